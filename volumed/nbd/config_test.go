package nbd

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	if err := (&Config{}).Validate(); err == nil {
		t.Error("zero Config validated")
	}
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	tests := []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"block too small", func(c *Config) { c.MaxBlockBytes = 4096 }, "max_block_bytes"},
		{"block not a multiple", func(c *Config) { c.MaxBlockBytes = 100 << 10 }, "max_block_bytes"},
		{"no requests", func(c *Config) { c.MaxInFlight = 0 }, "max_in_flight"},
		{"budget below a block", func(c *Config) { c.MaxInFlightBytes = 1 << 20 }, "max_in_flight_bytes"},
		{"negative connections", func(c *Config) { c.MaxConnections = -1 }, "max_connections"},
		{"no request timeout", func(c *Config) { c.RequestTimeout = 0 }, "request_timeout"},
		{"no handshake timeout", func(c *Config) { c.HandshakeTimeout = 0 }, "handshake_timeout"},
		{"no shutdown timeout", func(c *Config) { c.ShutdownTimeout = 0 }, "shutdown_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.field+" (") {
				t.Errorf("Validate() = %v, want an error naming %s", err, tc.field)
			}
			if _, err := New(c, &staticExports{}, nil, nil); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

// TestBadBlockSizes: an export whose block sizes break the protocol's rules is refused
// (an error reply to INFO and GO, a disconnect for EXPORT_NAME) rather than advertised.
func TestBadBlockSizes(t *testing.T) {
	var ex staticExports
	ex.add("min3", newMemExport(1<<20), ExportInfo{MinBlockBytes: 3})
	ex.add("pref256", newMemExport(1<<20), ExportInfo{PreferredBlockBytes: 256})
	ex.add("min128k", newMemExport(1<<20), ExportInfo{MinBlockBytes: 128 << 10, PreferredBlockBytes: 128 << 10})
	ts := startServer(t, &ex, nil)
	c := dial(t, ts.tcp)
	c.clientFlags(clientFixedNewstyle)
	for _, name := range []string{"min3", "pref256", "min128k"} {
		c.option(optInfo, infoData(name))
		c.expectReply(optInfo, repErrPolicy)
		c.option(optGo, infoData(name))
		c.expectReply(optGo, repErrPolicy)
	}
	c.option(optExportName, []byte("min3"))
	c.expectClosed()
}
