package api

import (
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// validName checks a space or app name: a DNS label (paved.CheckName), so
// it can appear in hostnames, process names and file names without
// escaping.
func validName(field, name string) error {
	if name == "" {
		return invalid(field, "%s is required", field)
	}
	if err := paved.CheckName(name); err != nil {
		return invalid(field, "%v", err)
	}
	return nil
}

func validateSpace(spec paved.SpaceSpec) error {
	if err := validName("name", spec.Name); err != nil {
		return err
	}
	for k := range spec.Labels {
		if k == "" || len(k) > 63 {
			return invalid("labels", "label keys must be 1 to 63 characters long")
		}
	}
	return nil
}

// validateApp checks an app by the library's rules (paved.AppSpec.Validate,
// the same the front ends run at plan time) and answers with the first
// problem at the library's field; checkApp adds what needs the store.
func validateApp(spec paved.AppSpec) error {
	return firstInvalid(spec.Validate())
}

// firstInvalid is the 422 answer to a spec the library refused: its first
// problem, at its field.
func firstInvalid(errs []paved.FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	return invalid(errs[0].Field, "%s", errs[0].Message)
}
