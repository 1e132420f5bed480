package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
)

// TestSettingsPrecedence: a flag on the command line beats the environment, which beats the
// config file, which beats the default; unknown file keys are errors.
func TestSettingsPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(file, []byte(`{"a": "file", "b": "file", "c_d": "file"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	a, b, c, e := fs.String("a", "default", ""), fs.String("b", "default", ""), fs.String("c-d", "default", ""), fs.String("e", "default", "")
	fs.String("config", "", "")
	if err := fs.Parse([]string{"--a=flag"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STRATUS_X_A", "env")
	t.Setenv("STRATUS_X_B", "env")
	if err := applyConfigSources(fs, "STRATUS_X_", file); err != nil {
		t.Fatal(err)
	}
	if *a != "flag" || *b != "env" || *c != "file" || *e != "default" {
		t.Fatalf("a=%s b=%s c-d=%s e=%s; want flag env file default", *a, *b, *c, *e)
	}
	if err := os.WriteFile(file, []byte(`{"nope": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigSources(fs, "STRATUS_X_", file); err == nil {
		t.Fatal("unknown key accepted")
	}
}
