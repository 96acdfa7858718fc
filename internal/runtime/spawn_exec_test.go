package runtime

import "testing"

func TestShellCommand(t *testing.T) {
	cases := map[string]string{
		"./hello":                    "exec ./hello",
		"  ./hello --port $PORT ":    "exec ./hello --port $PORT",
		"exec ./hello":               "exec ./hello",
		"echo hi; ./hello":           "echo hi; ./hello",
		"setsid sleep 600 & ./hello": "setsid sleep 600 & ./hello",
		"./a && ./b":                 "./a && ./b",
		"./a | tee log":              "./a | tee log",
		"./hello > out.log":          "./hello > out.log",
		"(cd web && ./server)":       "(cd web && ./server)",
	}
	for in, want := range cases {
		if got := shellCommand(in); got != want {
			t.Errorf("shellCommand(%q) = %q, want %q", in, got, want)
		}
	}
}
