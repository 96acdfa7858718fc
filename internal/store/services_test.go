package store_test

import (
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/secrets"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// A broker's password and a binding's credentials are sealed at rest,
// opened on read, and re-sealed by a key rotation.
func TestServiceSecretsAreSealedAndRotated(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustSpace(t, s, "shop")
	password, dbPassword := secretValue(t, "broker"), secretValue(t, "db")
	if _, err := s.PutServiceBroker(ctx, "tester", paved.ServiceBrokerSpec{Name: "pg", URL: "http://b", Username: "u", Password: password}, []byte(`{"services":[]}`), nil); err != nil {
		t.Fatal(err)
	}
	// An update without a password keeps the one stored.
	if _, err := s.PutServiceBroker(ctx, "tester", paved.ServiceBrokerSpec{Name: "pg", URL: "http://b2", Username: "u"}, []byte(`{"services":[]}`), nil); err != nil {
		t.Fatal(err)
	}
	in := store.ServiceInstanceRecord{ServiceInstance: paved.ServiceInstance{ServiceInstanceSpec: paved.ServiceInstanceSpec{Name: "db", Offering: "postgresql", Plan: "small", Broker: "pg"},
		Space: "shop", GUID: "g-1", LastOperation: paved.ServiceOperation{Type: paved.OperationCreate, State: paved.OperationSucceeded}}, ServiceID: "s", PlanID: "p"}
	if _, err := s.CreateServiceInstance(ctx, "tester", in); err != nil {
		t.Fatal(err)
	}
	b := store.ServiceBindingRecord{ServiceBinding: paved.ServiceBinding{ServiceBindingSpec: paved.ServiceBindingSpec{Name: "web-db", Instance: "db", App: "web"},
		Space: "shop", GUID: "g-2", LastOperation: paved.ServiceOperation{Type: paved.OperationCreate, State: paved.OperationSucceeded}},
		Credentials: map[string]any{"password": dbPassword}}
	if _, err := s.CreateServiceBinding(ctx, "tester", b); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteServiceInstance(ctx, "tester", "shop", "db"); err == nil {
		t.Error("an instance with a binding was deleted")
	}
	if err := s.DeleteSpace(ctx, "tester", "shop", 0); err == nil {
		t.Error("a space with a service instance was deleted")
	}
	s.Close()
	if got := leaks(t, dir, []string{password, dbPassword}); len(got) > 0 {
		t.Fatalf("in the clear in the data dir: %v", got)
	}
	rot, err := store.RotateKey(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, dir)
	for _, q := range []string{"SELECT password FROM service_brokers", "SELECT credentials FROM service_bindings"} {
		var v string
		if err := raw.QueryRow(q).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if id, _ := secrets.SealedKeyID(v); id != rot.To {
			t.Errorf("%s: sealed with %q after the rotation to %q", q, id, rot.To)
		}
	}
	raw.Close()
	s = openStore(t, dir)
	br, err := s.GetServiceBroker(ctx, "pg")
	if err != nil || br.Password != password || br.URL != "http://b2" {
		t.Errorf("broker after the rotation: %+v %v", br, err)
	}
	got, err := s.GetServiceBinding(ctx, "shop", "web-db")
	if err != nil || got.Credentials["password"] != dbPassword {
		t.Errorf("binding after the rotation: %+v %v", got, err)
	}
}
