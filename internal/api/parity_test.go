package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/speccorpus"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TestAppValidationParity feeds the app corpus (speccorpus.Apps) to the
// library's AppSpec.Validate and to the cell's HTTP API on a real store
// (create and update) and requires the same verdict at the same field for
// each spec.
func TestAppValidationParity(t *testing.T) {
	e := newEnv(t, nil)
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	e.mustCreate("/v1/spaces/prod/apps", `{"name":"base","command":"x"}`)
	archive := makeTarGz(t, tarEntry{name: "web", body: "#!/bin/sh\n"})
	source := sha(archive)
	if r := e.request(http.MethodPut, "/v1/sources/"+source, archive, "Content-Type", "application/octet-stream"); r.status >= 300 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	for _, tc := range speccorpus.Apps(source) {
		t.Run(tc.Name, func(t *testing.T) {
			lib := ""
			if errs := tc.Spec.Validate(); len(errs) > 0 {
				lib = errs[0].Field
				if tc.Field != "" && len(errs) != 1 {
					t.Errorf("library: %d problems, want one: %v", len(errs), errs)
				}
			}
			if lib != tc.Field {
				t.Fatalf("library: field %q (%v), want %q", lib, tc.Spec.Validate(), verdict(tc.Field))
			}
			r := e.request(http.MethodPost, "/v1/spaces/prod/apps", tc.Spec)
			if tc.Field == "" {
				expect(t, "cell: create", r, http.StatusCreated, "")
				expect(t, "cell: delete", e.request(http.MethodDelete, "/v1/spaces/prod/apps/"+tc.Spec.Name, nil), http.StatusNoContent, "")
				return
			}
			expect(t, "cell: create", r, http.StatusUnprocessableEntity, tc.Field)
			if ae := r.apiError(t); ae.Code != paved.CodeValidation || ae.Message != tc.Spec.Validate()[0].Message {
				t.Errorf("cell: %s %q, want %s with the library's message %q", ae.Code, ae.Message, paved.CodeValidation, tc.Spec.Validate()[0].Message)
			}
			if tc.Field != "name" {
				update := tc.Spec
				update.Name = "base"
				expect(t, "cell: update", e.request(http.MethodPut, "/v1/spaces/prod/apps/base", update), http.StatusUnprocessableEntity, tc.Field)
			}
		})
	}
	var list struct{ Apps []paved.App }
	e.request(http.MethodGet, "/v1/spaces/prod/apps", nil).decode(t, &list)
	if len(list.Apps) != 1 || list.Apps[0].Name != "base" || list.Apps[0].Command != "x" {
		t.Errorf("apps after the corpus: %+v, want base unchanged", list.Apps)
	}
}

// TestReplicaSetValidationParity feeds the replica-set corpus
// (speccorpus.ReplicaSets) to the library's ReplicaSetRecord.Validate and
// to the cell's HTTP API (PUT /v1/replica-sets/{name}) on a real store and
// requires the same verdict at the same field, with the library's message.
func TestReplicaSetValidationParity(t *testing.T) {
	e := newEnv(t, nil)
	e.mustCreate("/v1/spaces", `{"name":"shop"}`)
	for _, tc := range speccorpus.ReplicaSets() {
		t.Run(tc.Name, func(t *testing.T) {
			errs := tc.Spec.Validate()
			if lib := firstField(errs); lib != tc.Field || tc.Field != "" && len(errs) != 1 {
				t.Fatalf("library: %v, want one problem at %q (%s)", errs, tc.Field, verdict(tc.Field))
			}
			at := "/v1/replica-sets/" + url.PathEscape(tc.Spec.Name)
			r := e.request(http.MethodPut, at, tc.Spec)
			if tc.Field == "" {
				expect(t, "cell: put", r, http.StatusOK, "")
				expect(t, "cell: delete", e.request(http.MethodDelete, at, nil), http.StatusNoContent, "")
				return
			}
			expect(t, "cell: put", r, http.StatusUnprocessableEntity, tc.Field)
			if ae := r.apiError(t); ae.Code != paved.CodeValidation || ae.Message != errs[0].Message {
				t.Errorf("cell: %s %q, want %s with the library's message %q", ae.Code, ae.Message, paved.CodeValidation, errs[0].Message)
			}
		})
	}
	var list struct {
		ReplicaSets []paved.ReplicaSetRecord `json:"replica_sets"`
	}
	e.request(http.MethodGet, "/v1/replica-sets", nil).decode(t, &list)
	if len(list.ReplicaSets) != 0 {
		t.Errorf("replica sets after the corpus: %+v, want none", list.ReplicaSets)
	}
	// What only the cell can say: the body and the path name the same record.
	body := speccorpus.ReplicaSets()[0].Spec
	expect(t, "cell: put under another name", e.request(http.MethodPut, "/v1/replica-sets/other", body), http.StatusUnprocessableEntity, "name")
}

// TestEnvironmentValidationParity feeds the environment corpus
// (speccorpus.Environments) to the library's EnvironmentSpec.Validate and
// to the cell's HTTP API (POST /v1/environments) on a real store that has
// what the corpus clones, and requires the same verdict at the same field,
// with the library's message.
func TestEnvironmentValidationParity(t *testing.T) {
	e := newRolesEnv(t, nil)
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	e.mustCreate("/v1/spaces/prod/apps", `{"name":"web","command":"./web"}`)
	e.mustCreate("/v1/spaces/prod/apps", `{"name":"api","command":"./api"}`)
	archive := makeTarGz(t, tarEntry{name: "web", body: "#!/bin/sh\n"})
	source := sha(archive)
	if r := e.request(http.MethodPut, "/v1/sources/"+source, archive, "Content-Type", "application/octet-stream"); r.status >= 300 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	for _, tc := range speccorpus.Environments(source) {
		t.Run(tc.Name, func(t *testing.T) {
			errs := tc.Spec.Validate()
			if lib := firstField(errs); lib != tc.Field || tc.Field != "" && len(errs) != 1 {
				t.Fatalf("library: %v, want one problem at %q (%s)", errs, tc.Field, verdict(tc.Field))
			}
			r := e.request(http.MethodPost, "/v1/environments", tc.Spec)
			if tc.Field == "" {
				expect(t, "cell: create", r, http.StatusCreated, "")
				expect(t, "cell: delete", e.request(http.MethodDelete, "/v1/environments/"+tc.Spec.Name, nil), http.StatusNoContent, "")
				return
			}
			expect(t, "cell: create", r, http.StatusUnprocessableEntity, tc.Field)
			if ae := r.apiError(t); ae.Code != paved.CodeValidation || ae.Message != errs[0].Message {
				t.Errorf("cell: %s %q, want %s with the library's message %q", ae.Code, ae.Message, paved.CodeValidation, errs[0].Message)
			}
		})
	}
	var list struct{ Environments []paved.Environment }
	e.request(http.MethodGet, "/v1/environments", nil).decode(t, &list)
	if len(list.Environments) != 0 {
		t.Errorf("environments after the corpus: %+v, want none", list.Environments)
	}
}

// firstField is the field of a library verdict: its first problem's, ""
// for none.
func firstField(errs []paved.FieldError) string {
	if len(errs) == 0 {
		return ""
	}
	return errs[0].Field
}

func verdict(field string) string {
	if field == "" {
		return "valid"
	}
	return fmt.Sprintf("refused at %s", field)
}
