package paved

// FieldError is one problem of a spec, at a JSON path such as
// "jobs[1].plan[0].passed[0]" or "deployment.steps[0].weight": what every
// Validate of the library returns, what the cell answers with in its
// error's "field", and what the provider and the Pulumi plugin map onto
// their own attribute paths.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }
