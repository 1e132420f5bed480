package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every daemon takes its settings the same way: a flag given on the command line wins, then
// the environment (STRATUS_<ROLE>_<FLAG>, dashes as underscores), then the JSON file named by
// --config (keys are flag names or their snake_case forms; unknown keys are errors), then the
// flag's default. A daemon's command says its prefix with daemonSettings.

const envPrefixAnnotation = "stratus_env_prefix"

// daemonSettings marks cmd as a daemon whose flags also come from the environment under
// prefix and from a --config file, and adds --config.
func daemonSettings(cmd *cobra.Command, prefix string) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[envPrefixAnnotation] = prefix
	cmd.Flags().String("config", "", "JSON file of settings, keyed by flag name or its snake_case form (unknown keys are errors)")
	return cmd
}

// loadSettings fills a daemon's flags from its environment and config file; other commands
// are left as parsed. Called for every command before it runs.
func loadSettings(cmd *cobra.Command) error {
	prefix, ok := cmd.Annotations[envPrefixAnnotation]
	if !ok {
		return nil
	}
	file, _ := cmd.Flags().GetString("config")
	return applyConfigSources(cmd.Flags(), prefix, file)
}

// applyConfigSources fills every flag not given on the command line from the environment
// (prefix + flag name in upper case, dashes as underscores), then from the JSON file, so the
// precedence is flag > environment > file > default.
func applyConfigSources(fs *pflag.FlagSet, envPrefix, file string) error {
	var fromFile map[string]json.RawMessage
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return fmt.Errorf("config %s: %w", file, err)
		}
		// Keys are flag names; the snake_case names of the Config struct's JSON form work too.
		fromFile = map[string]json.RawMessage{}
		for k, v := range raw {
			name := strings.ReplaceAll(k, "_", "-")
			if fs.Lookup(name) == nil || name == "config" {
				return fmt.Errorf("config %s: unknown key %q", file, k)
			}
			fromFile[name] = v
		}
	}
	var errs []error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == "config" {
			return
		}
		env := envPrefix + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := fl.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
			return
		}
		if raw, ok := fromFile[fl.Name]; ok {
			var v any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber() // keep 10485760 from becoming 1.048576e+07
			if err := dec.Decode(&v); err != nil {
				errs = append(errs, fmt.Errorf("config %s: %w", fl.Name, err))
				return
			}
			if err := fl.Value.Set(fmt.Sprint(v)); err != nil {
				errs = append(errs, fmt.Errorf("config %s: %w", fl.Name, err))
			}
		}
	})
	return errors.Join(errs...)
}
