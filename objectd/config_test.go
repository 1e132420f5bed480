package objectd

import (
	"strings"
	"testing"
	"time"
)

// The small-object log's tuning knobs: 0 keeps the built-in value, anything outside the
// bounds is refused with the field named.
func TestConfigSmallObjectLogKnobs(t *testing.T) {
	valid := func(f func(*Config)) error {
		c := DefaultConfig()
		c.DevicesDir = t.TempDir()
		f(&c)
		return c.Validate()
	}
	for _, ok := range []func(*Config){
		func(c *Config) {},
		func(c *Config) { c.SmallObjectSegmentMax = minSegmentMax },
		func(c *Config) { c.SmallObjectSegmentMax = maxSegmentMax },
		func(c *Config) { c.SmallObjectCompactInterval = 200 * time.Millisecond },
	} {
		if err := valid(ok); err != nil {
			t.Errorf("refused: %v", err)
		}
	}
	for field, bad := range map[string]func(*Config){
		"small_object_segment_max":      func(c *Config) { c.SmallObjectSegmentMax = minSegmentMax - 1 },
		"small_object_segment_max ":     func(c *Config) { c.SmallObjectSegmentMax = maxSegmentMax + 1 },
		"small_object_compact_interval": func(c *Config) { c.SmallObjectCompactInterval = -time.Second },
	} {
		err := valid(bad)
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(field)) {
			t.Errorf("%s: got %v, want an error naming it", field, err)
		}
	}
}
