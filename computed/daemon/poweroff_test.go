package daemon

import (
	"testing"

	"stratus/meta/client"
)

// TestRecordPowerOffKeepsRequests: a guest's own power-off makes a running instance
// stopped, and turns only a desired running into stopped; a termination or stop the API
// wrote meanwhile stays (the launch benchmark terminated instances as their guests powered
// off, and the termination used to be lost).
func TestRecordPowerOffKeepsRequests(t *testing.T) {
	for _, tc := range []struct {
		desired, wantDesired client.DesiredInstanceState
		wantReason           string
	}{
		{client.DesireRunning, client.DesireStopped, "Client.InstanceInitiatedShutdown"},
		{client.DesireTerminated, client.DesireTerminated, ""},
		{client.DesireStopped, client.DesireStopped, ""},
	} {
		in := client.Instance{State: client.InstanceRunning, DesiredState: tc.desired}
		if !recordPowerOff(&in) || in.State != client.InstanceStopped || in.DesiredState != tc.wantDesired {
			t.Errorf("desired %s: now %s, desired %s", tc.desired, in.State, in.DesiredState)
		}
		got := ""
		if in.StateReason != nil {
			got = in.StateReason.Code
		}
		if got != tc.wantReason {
			t.Errorf("desired %s: reason %q, want %q", tc.desired, got, tc.wantReason)
		}
	}
	// Not running any more (the host or API moved it): nothing to write.
	in := client.Instance{State: client.InstanceStopping, DesiredState: client.DesireStopped}
	if recordPowerOff(&in) || in.State != client.InstanceStopping {
		t.Errorf("a stopping instance was rewritten: %+v", in)
	}
}
