package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// apiError is an error with its HTTP status, built in one place so every
// failure answers the same {"error":{"code","message","field"}} shape.
type apiError struct {
	status int
	body   paved.APIError
}

func (e *apiError) Error() string { return e.body.Error() }

func newError(status int, code, field, format string, args ...any) *apiError {
	return &apiError{status: status, body: paved.APIError{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}}
}

func badRequest(field, format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, paved.CodeBadRequest, field, format, args...)
}

func invalid(field, format string, args ...any) *apiError {
	return newError(http.StatusUnprocessableEntity, paved.CodeValidation, field, format, args...)
}

func notFound(format string, args ...any) *apiError {
	return newError(http.StatusNotFound, paved.CodeNotFound, "", format, args...)
}

func conflict(field, format string, args ...any) *apiError {
	return newError(http.StatusConflict, paved.CodeConflict, field, format, args...)
}

// writeError answers err, translating store errors; anything unknown is a
// 500 whose details stay in the cell log.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var rc *store.RouteConflict
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &rc):
		ae = routeTaken(r, rc)
	case errors.Is(err, store.ErrNotFound):
		ae = notFound("%s", "not found")
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = newError(http.StatusInternalServerError, paved.CodeInternal, "", "internal error; the cell log has the details")
	}
	writeJSON(w, ae.status, paved.ErrorBody{Error: &ae.body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the status is sent: nothing is left to tell the client of a failure
}

// decode reads a JSON body strictly: unknown fields and trailing data are
// errors that name the offending field, so typos never pass silently.
// decodeOptional is decode for a body that may be left out: a request
// without one leaves v as it is.
func decodeOptional(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decode(r, v)
}

func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return newError(http.StatusUnsupportedMediaType, paved.CodeBadRequest, "", "send the body as application/json, not %s", ct)
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return jsonError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			if path := unknownFieldPath(data, reflect.TypeOf(v)); path != "" {
				return badRequest(path, "unknown field %q", path)
			}
		}
		return jsonError(err)
	}
	// Only JSON whitespace may follow the value. (dec.More would miss a
	// stray "]" or "}", which it takes for the end of an enclosing value.)
	if rest := data[dec.InputOffset():]; len(bytes.TrimLeft(rest, " \t\r\n")) > 0 {
		return badRequest("", "the body must hold exactly one JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	msg := err.Error()
	switch {
	case errors.As(err, &mbe):
		return newError(http.StatusRequestEntityTooLarge, paved.CodeTooLarge, "", "the body is larger than the %d bytes allowed", mbe.Limit)
	case errors.As(err, &syn):
		return badRequest("", "the body is not valid JSON (at byte %d): %s", syn.Offset, strings.TrimPrefix(msg, "json: "))
	case errors.As(err, &typ) && typ.Field == "":
		return badRequest("", "the body must be a JSON object, not a JSON %s", typ.Value)
	case errors.As(err, &typ):
		return badRequest(typ.Field, "%s must be a %s, not a JSON %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(msg, "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
		return badRequest(field, "unknown field %q", field)
	case errors.Is(err, io.EOF):
		return badRequest("", "the request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "the body ends in the middle of a JSON value")
	default:
		// A field's own UnmarshalJSON (durations) explains itself.
		return badRequest("", "%s", strings.TrimPrefix(msg, "json: "))
	}
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32", "uint", "float64":
		return "number"
	case "map", "struct", "ptr":
		return "object"
	case "slice":
		return "list"
	}
	return k
}
