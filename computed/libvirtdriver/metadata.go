package libvirtdriver

import (
	"encoding/xml"
	"fmt"
	"strings"

	"libvirt.org/go/libvirtxml"

	"stratus/computed/driver"
)

// metadataNamespace names Stratus's element in a domain's <metadata>. libvirt keeps it with
// the definition on every hypervisor driver, so what the domain XML alone cannot say (QEMU
// arguments libvirt does not model, like the user-mode NIC's forwarded port) can be read
// back by List and Addresses after a daemon restart.
const metadataNamespace = "urn:stratus:computed:1"

type domainMetadata struct {
	XMLName xml.Name     `xml:"urn:stratus:computed:1 instance"`
	Owner   string       `xml:"owner,attr,omitempty"`
	NIC     *metadataNIC `xml:"nic"`
}

type metadataNIC struct {
	Mode        string `xml:"mode,attr"` // "network" or "user"
	Network     string `xml:"network,attr,omitempty"`
	MAC         string `xml:"mac,attr,omitempty"`
	SSHHostPort int    `xml:"ssh-host-port,attr,omitempty"`
}

func metadataFor(s driver.Spec) (*libvirtxml.DomainMetadata, error) {
	m := domainMetadata{Owner: s.Owner}
	if n := s.NIC; n != nil {
		m.NIC = &metadataNIC{Mode: "user", MAC: n.MAC, SSHHostPort: n.SSHHostPort}
		if n.Network != "" {
			m.NIC = &metadataNIC{Mode: "network", Network: n.Network, MAC: n.MAC}
		}
	}
	b, err := xml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("domain metadata: %w", err)
	}
	return &libvirtxml.DomainMetadata{XML: string(b)}, nil
}

// nicFromMetadata returns the NIC a domain was defined with, or nil if it has none or was
// not defined by this driver.
func nicFromMetadata(def *libvirtxml.Domain) *driver.NIC {
	m := metadataOf(def)
	if m == nil || m.NIC == nil {
		return nil
	}
	return &driver.NIC{Network: m.NIC.Network, MAC: m.NIC.MAC, SSHHostPort: m.NIC.SSHHostPort}
}

// ownerFromMetadata returns the owner a domain was defined with; "" if none.
func ownerFromMetadata(def *libvirtxml.Domain) string {
	if m := metadataOf(def); m != nil {
		return m.Owner
	}
	return ""
}

// metadataOf returns Stratus's element of a domain's metadata, or nil.
func metadataOf(def *libvirtxml.Domain) *domainMetadata {
	if def.Metadata == nil {
		return nil
	}
	// The metadata may hold other applications' elements beside ours.
	dec := xml.NewDecoder(strings.NewReader(def.Metadata.XML))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Space != metadataNamespace || start.Name.Local != "instance" {
			continue
		}
		var m domainMetadata
		if dec.DecodeElement(&m, &start) != nil {
			return nil
		}
		return &m
	}
}
