package ec2api

import (
	"context"
	"slices"
	"strconv"
	"strings"
)

func init() { actions["DescribeInstanceTypes"] = (*Server).describeInstanceTypes }

// InstanceType is one entry of the instance type catalogue: what an instance of the type
// gets from its host.
type InstanceType struct {
	Name      string
	VCPUs     int
	MemoryMiB int
}

// InstanceTypes is the catalogue, in name order: the EC2 names of the small general
// purpose types, with EC2's vCPU and memory sizes, so scripts written for EC2 ask for what
// they expect. The scheduler places instances by these numbers.
var InstanceTypes = []InstanceType{
	{Name: "m5.large", VCPUs: 2, MemoryMiB: 8192},
	{Name: "m5.xlarge", VCPUs: 4, MemoryMiB: 16384},
	{Name: "t3.medium", VCPUs: 2, MemoryMiB: 4096},
	{Name: "t3.micro", VCPUs: 2, MemoryMiB: 1024},
	{Name: "t3.nano", VCPUs: 2, MemoryMiB: 512},
	{Name: "t3.small", VCPUs: 2, MemoryMiB: 2048},
}

// LookupInstanceType returns the catalogue entry of name.
func LookupInstanceType(name string) (InstanceType, bool) {
	i := slices.IndexFunc(InstanceTypes, func(t InstanceType) bool { return t.Name == name })
	if i < 0 {
		return InstanceType{}, false
	}
	return InstanceTypes[i], true
}

type instanceTypeItem struct {
	InstanceType                 string      `xml:"instanceType"`
	CurrentGeneration            bool        `xml:"currentGeneration"`
	FreeTierEligible             bool        `xml:"freeTierEligible"`
	SupportedUsageClasses        set[string] `xml:"supportedUsageClasses"`
	SupportedRootDeviceTypes     set[string] `xml:"supportedRootDeviceTypes"`
	SupportedVirtualizationTypes set[string] `xml:"supportedVirtualizationTypes"`
	BareMetal                    bool        `xml:"bareMetal"`
	ProcessorInfo                struct {
		SupportedArchitectures set[string] `xml:"supportedArchitectures"`
	} `xml:"processorInfo"`
	VCPUInfo struct {
		DefaultVCPUs          int `xml:"defaultVCpus"`
		DefaultCores          int `xml:"defaultCores"`
		DefaultThreadsPerCore int `xml:"defaultThreadsPerCore"`
	} `xml:"vCpuInfo"`
	MemoryInfo struct {
		SizeInMiB int `xml:"sizeInMiB"`
	} `xml:"memoryInfo"`
	InstanceStorageSupported bool `xml:"instanceStorageSupported"`
}

type describeInstanceTypesResponse struct {
	response
	InstanceTypeSet set[instanceTypeItem] `xml:"instanceTypeSet"`
	NextToken       string                `xml:"nextToken,omitempty"`
}

// describeInstanceTypes lists the catalogue. Filters: instance-type,
// vcpu-info.default-vcpus, memory-info.size-in-mib, current-generation.
func (s *Server) describeInstanceTypes(_ context.Context, c *call) (responder, error) {
	names, err := c.Params.list("InstanceType")
	if err != nil {
		return nil, err
	}
	fs, err := c.Params.filters("instance-type", "vcpu-info.default-vcpus", "memory-info.size-in-mib", "current-generation")
	if err != nil {
		return nil, err
	}
	pg, err := c.Params.page(c.Action, 5, 100)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, n := range names {
		if _, ok := LookupInstanceType(n); !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, errorf(ErrInvalidInstanceType, "The following supplied instance types do not exist: [%s]", strings.Join(missing, ", "))
	}
	var match []InstanceType
	for _, t := range InstanceTypes {
		if len(names) > 0 && !slices.Contains(names, t.Name) {
			continue
		}
		if matchFields(fs, map[string]string{"instance-type": t.Name, "vcpu-info.default-vcpus": strconv.Itoa(t.VCPUs),
			"memory-info.size-in-mib": strconv.Itoa(t.MemoryMiB), "current-generation": "true"}) {
			match = append(match, t)
		}
	}
	items, next := paginate(c.Action, match, func(t InstanceType) string { return t.Name }, pg)
	resp := &describeInstanceTypesResponse{NextToken: next}
	for _, t := range items {
		it := instanceTypeItem{InstanceType: t.Name, CurrentGeneration: true, FreeTierEligible: t.Name == "t3.micro"}
		it.SupportedUsageClasses.Items = []string{"on-demand"}
		it.SupportedRootDeviceTypes.Items = []string{"ebs"}
		it.SupportedVirtualizationTypes.Items = []string{"hvm"}
		it.ProcessorInfo.SupportedArchitectures.Items = []string{"x86_64"}
		it.VCPUInfo.DefaultVCPUs, it.VCPUInfo.DefaultCores, it.VCPUInfo.DefaultThreadsPerCore = t.VCPUs, max(t.VCPUs/2, 1), min(t.VCPUs, 2)
		it.MemoryInfo.SizeInMiB = t.MemoryMiB
		resp.InstanceTypeSet.Items = append(resp.InstanceTypeSet.Items, it)
	}
	return resp, nil
}
