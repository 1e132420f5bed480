package ec2api

import (
	"slices"
	"strings"

	meta "stratus/meta/client"
)

// instanceState is EC2's instance state: its code and name.
type instanceState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

// stateCodes are EC2's codes of the instance states.
var stateCodes = map[meta.InstanceState]int{
	meta.InstancePending: 0, meta.InstanceRunning: 16, meta.InstanceShuttingDown: 32,
	meta.InstanceTerminated: 48, meta.InstanceStopping: 64, meta.InstanceStopped: 80,
}

func stateOf(st meta.InstanceState) instanceState {
	return instanceState{Code: stateCodes[st], Name: string(st)}
}

// apparentState is the state EC2 clients are shown: the record's state, which the host
// moves, except that a request the host has not acted on yet shows as the transition it
// starts, as EC2 answers at once (a stop of a running instance is stopping, a start of a
// stopped one pending, a termination shutting-down).
func apparentState(in meta.Instance) meta.InstanceState {
	switch {
	case in.State == meta.InstanceTerminated:
		return in.State
	case in.DesiredState == meta.DesireTerminated:
		return meta.InstanceShuttingDown
	case in.DesiredState == meta.DesireStopped && (in.State == meta.InstancePending || in.State == meta.InstanceRunning):
		return meta.InstanceStopping
	case in.DesiredState == meta.DesireRunning && (in.State == meta.InstanceStopped || in.State == meta.InstanceStopping):
		return meta.InstancePending
	}
	return in.State
}

type placementItem struct {
	AvailabilityZone string `xml:"availabilityZone"`
	GroupName        string `xml:"groupName"`
	Tenancy          string `xml:"tenancy"`
}

type ebsInstanceItem struct {
	VolumeID            string `xml:"volumeId"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type instanceBlockDevice struct {
	DeviceName string          `xml:"deviceName"`
	Ebs        ebsInstanceItem `xml:"ebs"`
}

type stateReasonItem struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type monitoringItem struct {
	State string `xml:"state"`
}

// instanceItem is EC2's RunningInstancesItemType, in its element order.
type instanceItem struct {
	InstanceID         string                   `xml:"instanceId"`
	ImageID            string                   `xml:"imageId"`
	InstanceState      instanceState            `xml:"instanceState"`
	PrivateDNSName     string                   `xml:"privateDnsName"`
	DNSName            string                   `xml:"dnsName"`
	Reason             string                   `xml:"reason"`
	KeyName            string                   `xml:"keyName,omitempty"`
	AmiLaunchIndex     int                      `xml:"amiLaunchIndex"`
	ProductCodes       set[none]                `xml:"productCodes"`
	InstanceType       string                   `xml:"instanceType"`
	LaunchTime         string                   `xml:"launchTime"`
	Placement          placementItem            `xml:"placement"`
	KernelID           string                   `xml:"kernelId,omitempty"`
	RamdiskID          string                   `xml:"ramdiskId,omitempty"`
	Monitoring         monitoringItem           `xml:"monitoring"`
	PrivateIPAddress   string                   `xml:"privateIpAddress,omitempty"`
	GroupSet           set[none]                `xml:"groupSet"`
	StateReason        *stateReasonItem         `xml:"stateReason,omitempty"`
	Architecture       string                   `xml:"architecture"`
	RootDeviceType     string                   `xml:"rootDeviceType"`
	RootDeviceName     string                   `xml:"rootDeviceName,omitempty"`
	BlockDeviceMapping set[instanceBlockDevice] `xml:"blockDeviceMapping"`
	VirtualizationType string                   `xml:"virtualizationType"`
	ClientToken        string                   `xml:"clientToken,omitempty"`
	TagSet             set[tagItem]             `xml:"tagSet"`
	Hypervisor         string                   `xml:"hypervisor"`
	EbsOptimized       bool                     `xml:"ebsOptimized"`
}

// attachmentStatus maps an instance's volume entry to EC2's attachment status.
func attachmentStatus(st meta.InstanceVolumeState) string {
	switch st {
	case meta.VolumeAttached:
		return "attached"
	case meta.VolumeDetaching:
		return "detaching"
	}
	return "attaching"
}

func instanceItemOf(in meta.Instance, launchIndex int, tags map[string]string) instanceItem {
	st := apparentState(in)
	it := instanceItem{
		InstanceID: in.ID, ImageID: in.ImageID, InstanceState: stateOf(st), KeyName: in.KeyName,
		AmiLaunchIndex: launchIndex, InstanceType: in.InstanceType, LaunchTime: ec2Time(in.LaunchTime),
		Placement: placementItem{AvailabilityZone: in.Zone, Tenancy: "default"}, KernelID: in.KernelID, RamdiskID: in.RamdiskID,
		Monitoring: monitoringItem{State: "disabled"}, PrivateIPAddress: in.PrivateIP, Architecture: "x86_64",
		RootDeviceType: "instance-store", RootDeviceName: in.RootDeviceName, VirtualizationType: "hvm",
		ClientToken: in.ClientToken, TagSet: tagSet(tags), Hypervisor: "xen",
	}
	if in.PrivateIP != "" {
		it.PrivateDNSName = "ip-" + strings.ReplaceAll(in.PrivateIP, ".", "-") + ".ec2.internal"
	}
	if in.StateReason != nil {
		it.StateReason = &stateReasonItem{Code: in.StateReason.Code, Message: in.StateReason.Message}
		it.Reason = in.StateReason.Message
	}
	vols := slices.Clone(in.Volumes)
	slices.SortFunc(vols, func(a, b meta.InstanceVolume) int { return strings.Compare(a.Device, b.Device) })
	for _, v := range vols {
		it.BlockDeviceMapping.Items = append(it.BlockDeviceMapping.Items, instanceBlockDevice{DeviceName: v.Device,
			Ebs: ebsInstanceItem{VolumeID: v.VolumeID, Status: attachmentStatus(v.State), AttachTime: ec2Time(v.AttachTime), DeleteOnTermination: v.DeleteOnTermination}})
	}
	return it
}

// reservationItem is EC2's ReservationInfoType: the instances of one RunInstances call.
type reservationItem struct {
	ReservationID string            `xml:"reservationId"`
	OwnerID       string            `xml:"ownerId"`
	GroupSet      set[none]         `xml:"groupSet"`
	InstancesSet  set[instanceItem] `xml:"instancesSet"`
}

// reservations groups instances (in order) by reservation, in order of first appearance;
// an instance's launch index is its place among its reservation's instances by ID.
func reservations(insts []meta.Instance, all []meta.Instance, tags map[string]map[string]string) []reservationItem {
	var out []reservationItem
	pos := map[string]int{}
	for _, in := range insts {
		rid := in.ReservationID
		if rid == "" {
			rid = "r-" + strings.TrimPrefix(in.ID, "i-")
		}
		i, ok := pos[rid]
		if !ok {
			i = len(out)
			pos[rid] = i
			out = append(out, reservationItem{ReservationID: rid, OwnerID: in.Account})
		}
		out[i].InstancesSet.Items = append(out[i].InstancesSet.Items, instanceItemOf(in, launchIndex(in, all), tags[in.ID]))
	}
	return out
}

// launchIndex is in's place among the instances of its reservation, by ID.
func launchIndex(in meta.Instance, all []meta.Instance) int {
	n := 0
	for _, o := range all {
		if o.ReservationID == in.ReservationID && in.ReservationID != "" && o.ID < in.ID {
			n++
		}
	}
	return n
}
