package s3api

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"

	meta "stratus/meta/client"
)

// GetObjectAttributes (GET ?attributes): what x-amz-object-attributes asks for of one
// version, without its bytes.

type xmlObjectAttributes struct {
	XMLName      xml.Name        `xml:"http://s3.amazonaws.com/doc/2006-03-01/ GetObjectAttributesResponse"`
	ETag         string          `xml:"ETag,omitempty"`
	Checksum     *xmlChecksum    `xml:"Checksum,omitempty"`
	ObjectParts  *xmlObjectParts `xml:"ObjectParts,omitempty"`
	StorageClass string          `xml:"StorageClass,omitempty"`
	ObjectSize   *int64          `xml:"ObjectSize,omitempty"`
}

// xmlChecksum is a checksum as S3's XML carries it: one element per algorithm.
type xmlChecksum struct {
	ChecksumCRC32     string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumSHA1      string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256    string `xml:"ChecksumSHA256,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
}

type xmlObjectParts struct {
	PartsCount           int           `xml:"PartsCount"`
	PartNumberMarker     int           `xml:"PartNumberMarker"`
	NextPartNumberMarker int           `xml:"NextPartNumberMarker"`
	MaxParts             int           `xml:"MaxParts"`
	IsTruncated          bool          `xml:"IsTruncated"`
	Parts                []xmlAttrPart `xml:"Part"`
}

type xmlAttrPart struct {
	PartNumber int   `xml:"PartNumber"`
	Size       int64 `xml:"Size"`
	xmlChecksum
}

// objectAttributeNames are the values x-amz-object-attributes may list.
var objectAttributeNames = map[string]bool{"ETag": true, "Checksum": true, "ObjectParts": true, "StorageClass": true, "ObjectSize": true}

func (s *Server) getObjectAttributes(rq *request, q url.Values) error {
	ctx := rq.r.Context()
	b, err := s.authorize(ctx, rq, "s3:GetObjectAttributes", rq.key) // the owner's, or whom the bucket policy lets
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, v := range rq.r.Header.Values("X-Amz-Object-Attributes") {
		for a := range strings.SplitSeq(v, ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			if !objectAttributeNames[a] {
				return errorf(ErrInvalidArgument, "Invalid attribute name specified.")
			}
			want[a] = true
		}
	}
	if len(want) == 0 {
		return errorf(ErrInvalidArgument, "x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
	}
	maxParts, err := countArg("max-parts", rq.r.Header.Get("X-Amz-Max-Parts"), 1000, "")
	if err != nil {
		return err
	}
	maxParts = min(maxParts, 1000)
	marker, err := countArg("part-number-marker", rq.r.Header.Get("X-Amz-Part-Number-Marker"), 0, "")
	if err != nil {
		return err
	}
	e, err := s.resolve(ctx, rq.w, rq.bucket, rq.key, q)
	if err != nil {
		return err
	}
	setVersionHeader(rq.w, b, e)
	rq.w.Header().Set("Last-Modified", lastModified(e.Version).Format(http.TimeFormat))
	var out xmlObjectAttributes
	if want["ETag"] {
		out.ETag = e.ETag // unquoted, as S3 sends it here
	}
	if want["Checksum"] && e.Checksum != nil {
		out.Checksum = checksumXML(e.Checksum, true)
	}
	if want["StorageClass"] {
		out.StorageClass = "STANDARD"
	}
	if want["ObjectSize"] {
		size := e.Size
		out.ObjectSize = &size
	}
	if want["ObjectParts"] && isMultipartETag(e.ETag) {
		m, err := s.readManifest(ctx, e)
		if err != nil {
			return dataError(err)
		}
		out.ObjectParts = objectParts(m, marker, maxParts)
	}
	return writeXML(rq.w, http.StatusOK, out)
}

// objectParts is one page of a multipart object's parts: up to max after marker.
func objectParts(m manifest, marker, max int) *xmlObjectParts {
	op := &xmlObjectParts{PartsCount: len(m.Parts), PartNumberMarker: marker, MaxParts: max}
	for i, p := range m.Parts {
		n := p.Number
		if n == 0 {
			n = i + 1 // a manifest written before part numbers were kept
		}
		if n <= marker {
			continue
		}
		if len(op.Parts) == max {
			op.IsTruncated = true
			break
		}
		part := xmlAttrPart{PartNumber: n, Size: p.Size}
		if p.Checksum != nil {
			part.xmlChecksum = *checksumXML(p.Checksum, false)
		}
		op.Parts = append(op.Parts, part)
		op.NextPartNumberMarker = n
	}
	return op
}

// checksumXML renders c; withType adds ChecksumType, which objects carry and parts do not.
func checksumXML(c *meta.Checksum, withType bool) *xmlChecksum {
	x := &xmlChecksum{}
	switch c.Algorithm {
	case "CRC32":
		x.ChecksumCRC32 = c.Value
	case "CRC32C":
		x.ChecksumCRC32C = c.Value
	case "CRC64NVME":
		x.ChecksumCRC64NVME = c.Value
	case "SHA1":
		x.ChecksumSHA1 = c.Value
	case "SHA256":
		x.ChecksumSHA256 = c.Value
	}
	if withType {
		x.ChecksumType = checksumType(c)
	}
	return x
}

// checksumType is S3's x-amz-checksum-type of c.
func checksumType(c *meta.Checksum) string {
	if c.Composite {
		return "COMPOSITE"
	}
	return "FULL_OBJECT"
}
