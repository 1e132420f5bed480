package hlc

import (
	"testing"
	"time"
)

func TestStringRoundTripAndOrder(t *testing.T) {
	cases := []Timestamp{0, 1, 0xffff, FromTime(time.Unix(1700000000, 0)), ^Timestamp(0)}
	for i, ts := range cases {
		s := ts.String()
		got, err := Parse(s)
		if err != nil || got != ts {
			t.Fatalf("Parse(%q) = %v, %v; want %v", s, got, err, ts)
		}
		if i > 0 && !(cases[i-1].String() < s) {
			t.Fatalf("text order broken: %s !< %s", cases[i-1], s)
		}
	}
	for _, bad := range []string{"", "123", "000000000000000g", "00000000000000000", "ABCDEF0123456789"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestClockMonotonicWhenWallStepsBack(t *testing.T) {
	wall := time.Unix(1700000000, 0)
	c := &Clock{Now: func() time.Time { return wall }}
	a := c.Next()
	wall = wall.Add(-time.Hour)
	b := c.Next()
	if b <= a {
		t.Fatalf("Next after step back = %v, want > %v", b, a)
	}
	c.Observe(a + 100)
	if d := c.Next(); d <= a+100 {
		t.Fatalf("Next after Observe = %v, want > %v", d, a+100)
	}
	if got := FromTime(wall).Time(); !got.Equal(wall) {
		t.Fatalf("Time() = %v, want %v", got, wall)
	}
}
