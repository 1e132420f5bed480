package daemon

import (
	"strings"
	"testing"
)

// TestConfigValidate: the defaults with the required settings pass; each bad setting is
// named.
func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Host, ok.DomainType, ok.VCPUs, ok.MemoryMiB, ok.DataDir = "h1", "qemu", 2, 1024, "/var/lib/x"
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for want, change := range map[string]func(*Config){
		"host is required":     func(c *Config) { c.Host = "" },
		"domain type":          func(c *Config) { c.DomainType = "" },
		"capacity":             func(c *Config) { c.VCPUs = 0 },
		"absolute path":        func(c *Config) { c.DataDir = "data" },
		"nbd address":          func(c *Config) { c.NBDAddr = "nowhere" },
		"want user or libvirt": func(c *Config) { c.Network = "libvirt:" },
		"ssh ports":            func(c *Config) { c.SSHPortFirst = 80 },
		"poll interval":        func(c *Config) { c.PollInterval = 0 },
	} {
		c := ok
		change(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config with a bad %s: %v", want, err)
		}
	}
	c := ok
	c.Network = "libvirt:default"
	if n, err := c.network(); err != nil || n != "default" {
		t.Errorf("libvirt network: %q, %v", n, err)
	}
}
