package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestRootCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantOut string
		wantLog string
		wantErr string
	}{
		{name: "version", args: []string{"version"}, wantOut: "sqlkube " + Version + "\n"},
		{name: "debug logs", args: []string{"--log-level", "debug", "version"}, wantOut: "sqlkube " + Version + "\n", wantLog: "level=DEBUG"},
		{name: "info hides debug", args: []string{"--log-level", "info", "version"}, wantOut: "sqlkube " + Version + "\n"},
		{name: "bad log level", args: []string{"--log-level", "loud", "version"}, wantErr: `invalid --log-level "loud"`},
		{name: "version takes no args", args: []string{"version", "x"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, logs bytes.Buffer
			cmd := NewRootCommand(&logs)
			cmd.SetOut(&out)
			cmd.SetErr(&bytes.Buffer{})
			cmd.SetArgs(tt.args)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.wantOut {
				t.Errorf("output = %q, want %q", out.String(), tt.wantOut)
			}
			if tt.wantLog == "" && logs.Len() > 0 {
				t.Errorf("unexpected logs: %s", logs.String())
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("logs = %q, want them to contain %q", logs.String(), tt.wantLog)
			}
		})
	}
}
