package ec2api

import (
	"context"
	"slices"
	"strconv"
)

func init() {
	actions["DescribeRegions"] = (*Server).describeRegions
	actions["DescribeAvailabilityZones"] = (*Server).describeAvailabilityZones
}

type regionItem struct {
	RegionName     string `xml:"regionName"`
	RegionEndpoint string `xml:"regionEndpoint"`
	OptInStatus    string `xml:"optInStatus"`
}

type describeRegionsResponse struct {
	response
	RegionInfo set[regionItem] `xml:"regionInfo"`
}

// describeRegions lists the one region this server is. RegionName.N naming another is
// InvalidParameterValue, as EC2 answers for a region that does not exist.
func (s *Server) describeRegions(_ context.Context, c *call) (responder, error) {
	names, err := c.Params.list("RegionName")
	if err != nil {
		return nil, err
	}
	fs, err := c.Params.filters("region-name", "endpoint", "opt-in-status")
	if err != nil {
		return nil, err
	}
	if _, err := c.Params.boolean("AllRegions"); err != nil {
		return nil, err
	}
	for _, n := range names {
		if n != s.cfg.Region {
			return nil, errorf(ErrInvalidParameterValue, "Invalid region: %s", n)
		}
	}
	r := regionItem{RegionName: s.cfg.Region, RegionEndpoint: c.Host, OptInStatus: "opt-in-not-required"}
	resp := &describeRegionsResponse{}
	if matchFields(fs, map[string]string{"region-name": r.RegionName, "endpoint": r.RegionEndpoint, "opt-in-status": r.OptInStatus}) {
		resp.RegionInfo.Items = append(resp.RegionInfo.Items, r)
	}
	return resp, nil
}

type zoneItem struct {
	ZoneName           string    `xml:"zoneName"`
	ZoneState          string    `xml:"zoneState"`
	RegionName         string    `xml:"regionName"`
	ZoneID             string    `xml:"zoneId"`
	ZoneType           string    `xml:"zoneType"`
	OptInStatus        string    `xml:"optInStatus"`
	GroupName          string    `xml:"groupName"`
	NetworkBorderGroup string    `xml:"networkBorderGroup"`
	MessageSet         set[none] `xml:"messageSet"`
}

type none struct{}

type describeZonesResponse struct {
	response
	AvailabilityZoneInfo set[zoneItem] `xml:"availabilityZoneInfo"`
}

// describeAvailabilityZones lists the configured zones, all available. Zone IDs are
// "<region>-az<N>" in the order the zones are configured.
func (s *Server) describeAvailabilityZones(_ context.Context, c *call) (responder, error) {
	names, err := c.Params.list("ZoneName")
	if err != nil {
		return nil, err
	}
	ids, err := c.Params.list("ZoneId")
	if err != nil {
		return nil, err
	}
	fs, err := c.Params.filters("zone-name", "zone-id", "state", "region-name", "zone-type", "group-name", "opt-in-status")
	if err != nil {
		return nil, err
	}
	if _, err := c.Params.boolean("AllAvailabilityZones"); err != nil {
		return nil, err
	}
	var zones []zoneItem
	for i, z := range s.cfg.Zones {
		zones = append(zones, zoneItem{
			ZoneName: z, ZoneState: "available", RegionName: s.cfg.Region,
			ZoneID: s.cfg.Region + "-az" + strconv.Itoa(i+1), ZoneType: "availability-zone",
			OptInStatus: "opt-in-not-required", GroupName: s.cfg.Region, NetworkBorderGroup: s.cfg.Region,
		})
	}
	for _, n := range names {
		if !slices.ContainsFunc(zones, func(z zoneItem) bool { return z.ZoneName == n }) {
			return nil, errorf(ErrInvalidParameterValue, "The zone '%s' does not exist.", n)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(zones, func(z zoneItem) bool { return z.ZoneID == id }) {
			return nil, errorf(ErrInvalidParameterValue, "The zone ID '%s' does not exist.", id)
		}
	}
	resp := &describeZonesResponse{}
	for _, z := range zones {
		if len(names) > 0 && !slices.Contains(names, z.ZoneName) || len(ids) > 0 && !slices.Contains(ids, z.ZoneID) {
			continue
		}
		if matchFields(fs, map[string]string{"zone-name": z.ZoneName, "zone-id": z.ZoneID, "state": z.ZoneState,
			"region-name": z.RegionName, "zone-type": z.ZoneType, "group-name": z.GroupName, "opt-in-status": z.OptInStatus}) {
			resp.AvailabilityZoneInfo.Items = append(resp.AvailabilityZoneInfo.Items, z)
		}
	}
	return resp, nil
}

// validZone reports whether z is one of the server's zones.
func (s *Server) validZone(z string) bool { return slices.Contains(s.cfg.Zones, z) }
