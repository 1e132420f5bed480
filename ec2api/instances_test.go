package ec2api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	meta "stratus/meta/client"
)

// putHost registers (or heartbeats) a compute host as its computed would.
func putHost(t *testing.T, e *env, name, zone string, vcpus, mib int, heartbeat time.Time) {
	t.Helper()
	h := meta.ComputeHost{Host: name, Zone: zone, VCPUs: vcpus, MemoryMiB: mib, DomainType: "qemu", HeartbeatAt: heartbeat, StartedAt: heartbeat}
	if err := e.Admin.PutComputeHost(e.ctx(), h); err != nil {
		t.Fatal(err)
	}
}

// putImage stores an available raw machine image of account ("" for an operator's).
func putImage(t *testing.T, e *env, account string) string {
	t.Helper()
	im := meta.Image{ID: meta.NewImageID(meta.ImageMachine), Account: account, Kind: meta.ImageMachine, Name: "img-" + account,
		Bucket: "images", Key: "disk.raw", Format: "raw", SizeBytes: 1 << 20, State: meta.ImageAvailable}
	if err := e.Admin.CreateImage(e.ctx(), im); err != nil {
		t.Fatal(err)
	}
	return im.ID
}

// setState plays the host: it moves an instance's recorded state.
func setState(t *testing.T, e *env, id string, st meta.InstanceState) {
	t.Helper()
	in, idx, err := e.Admin.Instance(e.ctx(), id)
	if err != nil {
		t.Fatal(err)
	}
	in.State = st
	if err := e.Admin.UpdateInstance(e.ctx(), in, idx); err != nil {
		t.Fatal(err)
	}
}

func run(e *env, c *ec2.Client, image string, typ types.InstanceType, minC, maxC int32) (*ec2.RunInstancesOutput, error) {
	return c.RunInstances(e.ctx(), &ec2.RunInstancesInput{ImageId: aws.String(image), InstanceType: typ,
		MinCount: aws.Int32(minC), MaxCount: aws.Int32(maxC)})
}

// hostUse sums the vCPUs of the instances recorded on each host that are not terminated.
func hostUse(t *testing.T, e *env) map[string]int {
	t.Helper()
	all, err := e.Admin.Instances(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	use := map[string]int{}
	for _, in := range all {
		if in.State != meta.InstanceTerminated {
			use[in.Host] += in.VCPUs
		}
	}
	return use
}

// TestScheduling: instances spread over the live hosts of the zone; a host with a stale
// heartbeat or of another zone gets none; a launch that does not fit is refused whole.
func TestScheduling(t *testing.T) {
	e := newEnv(t)
	c := e.sdk("alice")
	zone, now := testRegion+"a", time.Now()
	putHost(t, e, "h1", zone, 4, 8192, now)
	putHost(t, e, "h2", zone, 4, 8192, now)
	putHost(t, e, "stale", zone, 64, 1<<20, now.Add(-time.Minute))
	putHost(t, e, "elsewhere", testRegion+"z", 64, 1<<20, now)
	img := putImage(t, e, "")

	out, err := run(e, c, img, "t3.small", 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if use := hostUse(t, e); len(out.Instances) != 2 || use["h1"] != 2 || use["h2"] != 2 {
		t.Fatalf("two instances went to %v; want one on each live host", use)
	}
	// Room for two more (2 vCPUs on each): three is refused and nothing is stored.
	_, err = run(e, c, img, "t3.small", 3, 3)
	wantCode(t, err, "InsufficientInstanceCapacity")
	if all, _ := e.Admin.Instances(e.ctx()); len(all) != 2 {
		t.Fatalf("a refused launch left %d instances, want 2", len(all))
	}
	// MinCount 1, MaxCount 3: the two that fit.
	out, err = run(e, c, img, "t3.small", 1, 3)
	if err != nil || len(out.Instances) != 2 {
		t.Fatalf("MinCount 1 MaxCount 3: %v, %d instances", err, len(out.Instances))
	}
	_, err = run(e, c, img, "t3.nano", 1, 1)
	wantCode(t, err, "InsufficientInstanceCapacity")
	// A terminated instance frees its room.
	setState(t, e, aws.ToString(out.Instances[0].InstanceId), meta.InstanceTerminated)
	if _, err := run(e, c, img, "t3.nano", 1, 1); err != nil {
		t.Fatal(err)
	}
	for h, n := range hostUse(t, e) {
		if n > 4 {
			t.Fatalf("host %s has %d vCPUs of instances, more than its 4", h, n)
		}
	}
	// A host whose heartbeat stops gets nothing more.
	putHost(t, e, "h3", zone, 4, 8192, now.Add(-31*time.Second))
	_, err = run(e, c, img, "t3.small", 1, 1)
	wantCode(t, err, "InsufficientInstanceCapacity")
}

// TestSchedulingRace: concurrent launches onto one host with room for two keep at most
// two, whatever the interleaving (the re-check after the conditional write).
func TestSchedulingRace(t *testing.T) {
	e := newEnv(t)
	c := e.sdk("alice")
	putHost(t, e, "only", testRegion+"a", 4, 8192, time.Now())
	img := putImage(t, e, "")
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range n {
		wg.Go(func() {
			if _, err := run(e, c, img, "t3.small", 1, 1); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	use := hostUse(t, e)
	if use["only"] > 4 || ok == 0 || use["only"] != 2*ok {
		t.Fatalf("%d launches succeeded, the host holds %d vCPUs of instances (capacity 4)", ok, use["only"])
	}
	t.Logf("%d of %d concurrent launches placed", ok, n)
}

// TestInstanceLifecycle: RunInstances stores a placed record wanting to run, with the key,
// user data and tags; ClientToken makes it idempotent; stop, start, reboot and terminate
// answer EC2's state pairs and refuse with IncorrectInstanceState where EC2 does; another
// account can neither see nor change it.
func TestInstanceLifecycle(t *testing.T) {
	e := newEnv(t)
	c, bob := e.sdk("alice"), e.sdk("bob")
	putHost(t, e, "h1", testRegion+"a", 8, 16384, time.Now())
	img := putImage(t, e, "alice")
	if _, err := c.CreateKeyPair(e.ctx(), &ec2.CreateKeyPairInput{KeyName: aws.String("k"), KeyType: types.KeyTypeEd25519}); err != nil {
		t.Fatal(err)
	}
	ud := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hi\n"))
	in := &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: "t3.micro", MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		KeyName: aws.String("k"), UserData: aws.String(ud), ClientToken: aws.String("tok-1"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("web")}}}}}
	out, err := c.RunInstances(e.ctx(), in)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	if out.Instances[0].State.Name != types.InstanceStateNamePending || aws.ToString(out.ReservationId) == "" || len(out.Instances[0].Tags) != 1 {
		t.Fatalf("RunInstances = %+v", out.Instances[0])
	}
	rec, _, err := e.Admin.Instance(e.ctx(), id)
	if err != nil || rec.Host != "h1" || rec.DesiredState != meta.DesireRunning || rec.State != meta.InstancePending ||
		rec.PublicKey == "" || rec.UserData != ud || rec.VCPUs != 2 || rec.MemoryMiB != 1024 || rec.Account != "alice" {
		t.Fatalf("record = %+v, %v", rec, err)
	}
	again, err := c.RunInstances(e.ctx(), in)
	if err != nil || aws.ToString(again.Instances[0].InstanceId) != id || aws.ToString(again.ReservationId) != aws.ToString(out.ReservationId) {
		t.Fatalf("repeated ClientToken: %v, %+v", err, again)
	}
	in.InstanceType = "t3.small"
	_, err = c.RunInstances(e.ctx(), in)
	wantCode(t, err, "IdempotentParameterMismatch")
	if all, _ := e.Admin.Instances(e.ctx()); len(all) != 1 {
		t.Fatalf("%d instances after repeats, want 1", len(all))
	}

	// Bob sees and changes nothing.
	_, bobIdx, _ := e.Admin.Instance(e.ctx(), id)
	_, err = bob.StopInstances(e.ctx(), &ec2.StopInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	_, err = bob.TerminateInstances(e.ctx(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	_, err = bob.DescribeInstances(e.ctx(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	_, err = bob.GetConsoleOutput(e.ctx(), &ec2.GetConsoleOutputInput{InstanceId: aws.String(id)})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	if d, err := bob.DescribeInstances(e.ctx(), &ec2.DescribeInstancesInput{}); err != nil || len(d.Reservations) != 0 {
		t.Fatalf("bob's instances: %v, %+v", err, d)
	}
	if _, idx, _ := e.Admin.Instance(e.ctx(), id); idx != bobIdx {
		t.Fatal("another account's requests changed the instance")
	}

	states := func(o []types.InstanceStateChange) (types.InstanceStateName, types.InstanceStateName) {
		t.Helper()
		if len(o) != 1 {
			t.Fatalf("%d state changes, want 1", len(o))
		}
		return o[0].PreviousState.Name, o[0].CurrentState.Name
	}
	setState(t, e, id, meta.InstanceRunning)
	stop, err := c.StopInstances(e.ctx(), &ec2.StopInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if p, cur := states(stop.StoppingInstances); p != "running" || cur != "stopping" {
		t.Fatalf("stop: %s → %s", p, cur)
	}
	if rec, _, _ := e.Admin.Instance(e.ctx(), id); rec.DesiredState != meta.DesireStopped {
		t.Fatalf("after StopInstances desired state is %s", rec.DesiredState)
	}
	_, err = c.StartInstances(e.ctx(), &ec2.StartInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "IncorrectInstanceState") // still stopping
	setState(t, e, id, meta.InstanceStopped)
	_, err = c.RebootInstances(e.ctx(), &ec2.RebootInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "IncorrectInstanceState")
	start, err := c.StartInstances(e.ctx(), &ec2.StartInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if p, cur := states(start.StartingInstances); p != "stopped" || cur != "pending" {
		t.Fatalf("start: %s → %s", p, cur)
	}
	setState(t, e, id, meta.InstanceRunning)
	if _, err := c.RebootInstances(e.ctx(), &ec2.RebootInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := e.Admin.Instance(e.ctx(), id); rec.RebootRequests != 1 {
		t.Fatalf("reboot requests = %d, want 1", rec.RebootRequests)
	}

	// The console tail the host recorded.
	rec, idx, _ := e.Admin.Instance(e.ctx(), id)
	stamp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec.Console = &meta.InstanceConsole{Output: []byte("login: "), UpdatedAt: stamp}
	if err := e.Admin.UpdateInstance(e.ctx(), rec, idx); err != nil {
		t.Fatal(err)
	}
	con, err := c.GetConsoleOutput(e.ctx(), &ec2.GetConsoleOutputInput{InstanceId: aws.String(id)})
	if err != nil || aws.ToString(con.Output) != base64.StdEncoding.EncodeToString([]byte("login: ")) || !aws.ToTime(con.Timestamp).Equal(stamp) {
		t.Fatalf("GetConsoleOutput: %v, %+v", err, con)
	}

	d, err := c.DescribeInstances(e.ctx(), &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:Name"), Values: []string{"web"}}, {Name: aws.String("instance-state-name"), Values: []string{"running"}}}})
	if err != nil || len(d.Reservations) != 1 || aws.ToString(d.Reservations[0].Instances[0].KeyName) != "k" {
		t.Fatalf("DescribeInstances: %v, %+v", err, d)
	}
	st, err := c.DescribeInstanceStatus(e.ctx(), &ec2.DescribeInstanceStatusInput{})
	if err != nil || len(st.InstanceStatuses) != 1 || st.InstanceStatuses[0].InstanceStatus.Status != types.SummaryStatusOk {
		t.Fatalf("DescribeInstanceStatus: %v, %+v", err, st)
	}

	term, err := c.TerminateInstances(e.ctx(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if p, cur := states(term.TerminatingInstances); p != "running" || cur != "shutting-down" {
		t.Fatalf("terminate: %s → %s", p, cur)
	}
	if rec, _, _ := e.Admin.Instance(e.ctx(), id); rec.DesiredState != meta.DesireTerminated {
		t.Fatalf("after TerminateInstances desired state is %s", rec.DesiredState)
	}
	_, err = c.StartInstances(e.ctx(), &ec2.StartInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "IncorrectInstanceState")
	_, err = c.StopInstances(e.ctx(), &ec2.StopInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "IncorrectInstanceState")
	setState(t, e, id, meta.InstanceTerminated)
	term, err = c.TerminateInstances(e.ctx(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if p, cur := states(term.TerminatingInstances); p != "terminated" || cur != "terminated" {
		t.Fatalf("terminate again: %s → %s", p, cur)
	}
}

// TestRunInstancesVolumes: BlockDeviceMapping makes a volume per instance — empty, or a
// clone of a snapshot — listed on the instance as attaching, and the volume shows attached
// to it.
func TestRunInstancesVolumes(t *testing.T) {
	e := newEnv(t)
	c := e.sdk("alice")
	putHost(t, e, "h1", testRegion+"a", 8, 16384, time.Now())
	img := putImage(t, e, "")
	vol, err := c.CreateVolume(e.ctx(), &ec2.CreateVolumeInput{Size: aws.Int32(1), AvailabilityZone: aws.String(testRegion + "a")})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.CreateSnapshot(e.ctx(), &ec2.CreateSnapshotInput{VolumeId: vol.VolumeId})
	if err != nil {
		t.Fatal(err)
	}
	completeSnapshot(t, e, aws.ToString(snap.SnapshotId))
	out, err := c.RunInstances(e.ctx(), &ec2.RunInstancesInput{ImageId: aws.String(img), MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		BlockDeviceMappings: []types.BlockDeviceMapping{
			{DeviceName: aws.String("/dev/sdf"), Ebs: &types.EbsBlockDevice{SnapshotId: snap.SnapshotId}},
			{DeviceName: aws.String("/dev/sdg"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(3), DeleteOnTermination: aws.Bool(false)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Instances) != 2 || aws.ToString(out.ReservationId) == "" {
		t.Fatalf("RunInstances = %+v", out)
	}
	for _, inst := range out.Instances {
		rec, _, err := e.Admin.Instance(e.ctx(), aws.ToString(inst.InstanceId))
		if err != nil || len(rec.Volumes) != 2 || rec.Volumes[0].State != meta.VolumeAttaching || rec.Volumes[1].DeleteOnTermination {
			t.Fatalf("record = %+v, %v", rec, err)
		}
		clone, _, err := e.Admin.Volume(e.ctx(), rec.Volumes[0].VolumeID)
		if err != nil || clone.FromSnapshot != aws.ToString(snap.SnapshotId) || clone.Account != "alice" {
			t.Fatalf("clone = %+v, %v", clone, err)
		}
		empty, _, err := e.Admin.Volume(e.ctx(), rec.Volumes[1].VolumeID)
		if err != nil || empty.SizeBytes != 3<<30 || empty.FromSnapshot != "" {
			t.Fatalf("empty volume = %+v, %v", empty, err)
		}
		if len(inst.BlockDeviceMappings) != 2 || aws.ToString(inst.BlockDeviceMappings[0].DeviceName) != "/dev/sdf" {
			t.Fatalf("block devices = %+v", inst.BlockDeviceMappings)
		}
	}
	// The snapshot is in use by the clones.
	_, err = c.DeleteSnapshot(e.ctx(), &ec2.DeleteSnapshotInput{SnapshotId: snap.SnapshotId})
	wantCode(t, err, "InvalidSnapshot.InUse")
}

// TestInstanceIDsRepeatedOrMalformed: an instance named twice in one request is changed
// once; a malformed or unknown ID among good ones fails the whole request, changing none.
func TestInstanceIDsRepeatedOrMalformed(t *testing.T) {
	e := newEnv(t)
	c := e.sdk("alice")
	putHost(t, e, "h1", testRegion+"a", 8, 16384, time.Now())
	out, err := run(e, c, putImage(t, e, ""), "t3.nano", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	for _, bad := range []string{"i-../../x", "i-00000000000000000"} {
		_, err = c.TerminateInstances(e.ctx(), &ec2.TerminateInstancesInput{InstanceIds: []string{id, bad}})
		wantCode(t, err, "InvalidInstanceID.NotFound")
	}
	if rec, _, _ := e.Admin.Instance(e.ctx(), id); rec.DesiredState != meta.DesireRunning {
		t.Fatalf("a refused request changed the instance: desired %s", rec.DesiredState)
	}
	term, err := c.TerminateInstances(e.ctx(), &ec2.TerminateInstancesInput{InstanceIds: []string{id, id}})
	if err != nil || len(term.TerminatingInstances) != 1 {
		t.Fatalf("terminate one instance named twice: %v, %+v", err, term)
	}
}

// TestTerminatedExpire: a terminated instance stays listed for TerminatedRetention, then a
// DescribeInstances removes its record and tags.
func TestTerminatedExpire(t *testing.T) {
	e := newEnv(t)
	c := e.sdk("alice")
	putHost(t, e, "h1", testRegion+"a", 8, 16384, time.Now())
	out, err := c.RunInstances(e.ctx(), &ec2.RunInstancesInput{ImageId: aws.String(putImage(t, e, "")), MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	old, recent := aws.ToString(out.Instances[0].InstanceId), aws.ToString(out.Instances[1].InstanceId)
	// The host recorded both terminated, one over an hour ago (written raw: UpdateInstance
	// stamps now).
	for id, at := range map[string]time.Time{old: time.Now().Add(-TerminatedRetention - time.Minute), recent: time.Now()} {
		in, idx, err := e.Admin.Instance(e.ctx(), id)
		if err != nil {
			t.Fatal(err)
		}
		in.State, in.DesiredState, in.UpdatedAt = meta.InstanceTerminated, meta.DesireTerminated, at
		b, _ := json.Marshal(in)
		if _, err := e.Admin.Apply(e.ctx(), meta.Op{Kind: meta.OpPut, Table: meta.TableInstances, Key: id, Value: b, Cond: meta.CondModIndex, ModIndex: idx}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := c.DescribeInstances(e.ctx(), &ec2.DescribeInstancesInput{})
	if err != nil || len(d.Reservations) != 1 || len(d.Reservations[0].Instances) != 1 || aws.ToString(d.Reservations[0].Instances[0].InstanceId) != recent {
		t.Fatalf("DescribeInstances: %v, %+v", err, d)
	}
	if _, _, err := e.Admin.Instance(e.ctx(), old); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("expired record: %v, want it removed", err)
	}
	if _, idx, _ := e.Admin.Tags(e.ctx(), "alice", old); idx != 0 {
		t.Fatal("the expired instance's tags are left")
	}
}

// TestRunInstancesRefusals: bad launches are refused with EC2's codes and store nothing;
// DescribeInstances pages.
func TestRunInstancesRefusals(t *testing.T) {
	e := newEnv(t)
	c := e.sdk("alice")
	putHost(t, e, "h1", testRegion+"a", 64, 1<<20, time.Now())
	img, bobs := putImage(t, e, ""), putImage(t, e, "bob")
	big := base64.StdEncoding.EncodeToString(make([]byte, meta.MaxInstanceUserDataBytes+1))
	for _, tc := range []struct {
		name string
		in   ec2.RunInstancesInput
		code string
	}{
		{"another account's image", ec2.RunInstancesInput{ImageId: aws.String(bobs)}, "InvalidAMIID.NotFound"},
		{"unknown image", ec2.RunInstancesInput{ImageId: aws.String("ami-00000000000000000")}, "InvalidAMIID.NotFound"},
		{"unknown type", ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: "x9.huge"}, "InvalidParameterValue"},
		{"user data too large", ec2.RunInstancesInput{ImageId: aws.String(img), UserData: aws.String(big)}, "InvalidParameterValue"},
		{"unknown key", ec2.RunInstancesInput{ImageId: aws.String(img), KeyName: aws.String("nope")}, "InvalidKeyPair.NotFound"},
		{"unknown zone", ec2.RunInstancesInput{ImageId: aws.String(img), Placement: &types.Placement{AvailabilityZone: aws.String("mars-1a")}}, "InvalidParameterValue"},
		{"min over max", ec2.RunInstancesInput{ImageId: aws.String(img), MinCount: aws.Int32(3), MaxCount: aws.Int32(2)}, "InvalidParameterValue"},
		{"root device mapped", ec2.RunInstancesInput{ImageId: aws.String(img), BlockDeviceMappings: []types.BlockDeviceMapping{
			{DeviceName: aws.String("/dev/sda1"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(8)}}}}, "InvalidParameterValue"},
		{"another account's snapshot", ec2.RunInstancesInput{ImageId: aws.String(img), BlockDeviceMappings: []types.BlockDeviceMapping{
			{DeviceName: aws.String("/dev/sdf"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String("snap-0123456789abcdef")}}}}, "InvalidSnapshot.NotFound"},
		{"security group", ec2.RunInstancesInput{ImageId: aws.String(img), SecurityGroupIds: []string{"sg-1"}}, "UnsupportedOperation"},
	} {
		in := tc.in
		if in.MinCount == nil {
			in.MinCount, in.MaxCount = aws.Int32(1), aws.Int32(1)
		}
		_, err := c.RunInstances(e.ctx(), &in)
		if err == nil {
			t.Fatalf("%s: accepted", tc.name)
		}
		wantCode(t, err, tc.code)
	}
	// Too many writes for one transaction: 20 instances with 24 volumes each.
	var many []types.BlockDeviceMapping
	for l := 'c'; l <= 'z'; l++ {
		many = append(many, types.BlockDeviceMapping{DeviceName: aws.String("/dev/sd" + string(l)), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(1)}})
	}
	_, err := c.RunInstances(e.ctx(), &ec2.RunInstancesInput{ImageId: aws.String(img), MinCount: aws.Int32(20), MaxCount: aws.Int32(20), BlockDeviceMappings: many})
	wantCode(t, err, "InvalidParameterValue")
	if all, _ := e.Admin.Instances(e.ctx()); len(all) != 0 {
		t.Fatalf("refused launches stored %d instances", len(all))
	}

	if _, err := run(e, c, img, "t3.nano", 7, 7); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	for pages := 0; p.HasMorePages(); pages++ {
		if pages > 3 {
			t.Fatal("pagination does not end")
		}
		out, err := p.NextPage(e.ctx())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				seen[aws.ToString(in.InstanceId)] = true
			}
		}
	}
	if len(seen) != 7 {
		t.Fatalf("paged through %d instances, want 7", len(seen))
	}
}
