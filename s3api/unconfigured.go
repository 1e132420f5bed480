package s3api

import (
	"encoding/xml"
	"net/http"
	"net/url"
)

// Bucket settings Stratus does not offer. A GET of one answers what S3 answers for a bucket
// on which it was never set, so tools that read every setting of a bucket (s3cmd info,
// Terraform, backup tools) work; a PUT is NotImplemented, since accepting a setting that
// nothing enforces would be a lie; a DELETE of a setting that cannot exist succeeds. Its
// errors (ErrNoSuchWebsiteConfiguration, …) are declared with the others in errors.go.

// unconfigured is what GET answers for each such setting: an empty document, or an error.
var unconfigured = map[string]struct {
	empty any
	err   error
}{
	"accelerate":     {empty: xmlAccelerate{}},
	"requestPayment": {empty: xmlRequestPayment{Payer: "BucketOwner"}},
	"logging":        {empty: xmlLoggingStatus{}},
	"notification":   {empty: xmlNotification{}},
	"website":        {err: ErrNoSuchWebsiteConfiguration},
	"replication":    {err: ErrNoReplicationConfiguration},
	"encryption":     {err: ErrNoEncryptionConfiguration},
	// Listing configurations of these kinds: there are none. With an id, S3 answers
	// NoSuchConfiguration, which NotImplemented stands in for.
	"analytics":           {empty: xmlListAnalytics{}},
	"inventory":           {empty: xmlListInventory{}},
	"metrics":             {empty: xmlListMetrics{}},
	"intelligent-tiering": {empty: xmlListTiering{}},
}

// unconfiguredOp answers a request for a setting in unconfigured; handled is false when q
// names none of them.
func (s *Server) unconfiguredOp(rq *request, q url.Values) (handled bool, err error) {
	name := ""
	for k := range unconfigured {
		if q.Has(k) {
			name = k
			break
		}
	}
	if name == "" {
		return false, nil
	}
	if _, err := s.authorize(rq.r.Context(), rq, unconfiguredAction(rq.r.Method, name), ""); err != nil {
		return true, err
	}
	switch rq.r.Method {
	case http.MethodGet:
		u := unconfigured[name]
		if u.err != nil {
			return true, u.err
		}
		if q.Get("id") != "" {
			return true, errorf(ErrNotImplemented, "Stratus keeps no "+name+" configurations.")
		}
		return true, writeXML(rq.w, http.StatusOK, u.empty)
	case http.MethodDelete:
		rq.w.WriteHeader(http.StatusNoContent)
		return true, nil
	case http.MethodPut:
		return true, errorf(ErrNotImplemented, "Stratus does not support bucket "+name+" configuration.")
	}
	return true, ErrMethodNotAllowed
}

// unconfiguredAction is the IAM action a bucket policy names for a request on setting name.
func unconfiguredAction(method, name string) string {
	verb := "s3:Get"
	if method != http.MethodGet {
		verb = "s3:Put" // S3 authorizes deleting a setting as putting it
	}
	return verb + unconfiguredActionNames[name]
}

var unconfiguredActionNames = map[string]string{
	"accelerate": "AccelerateConfiguration", "requestPayment": "BucketRequestPayment", "logging": "BucketLogging",
	"notification": "BucketNotification", "website": "BucketWebsite", "replication": "ReplicationConfiguration",
	"encryption": "EncryptionConfiguration", "analytics": "AnalyticsConfiguration", "inventory": "InventoryConfiguration",
	"metrics": "MetricsConfiguration", "intelligent-tiering": "IntelligentTieringConfiguration",
}

type xmlAccelerate struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ AccelerateConfiguration"`
}

type xmlRequestPayment struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ RequestPaymentConfiguration"`
	Payer   string
}

type xmlLoggingStatus struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ BucketLoggingStatus"`
}

type xmlNotification struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ NotificationConfiguration"`
}

type xmlListAnalytics struct {
	XMLName     xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketAnalyticsConfigurationResult"`
	IsTruncated bool
}

type xmlListInventory struct {
	XMLName     xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListInventoryConfigurationsResult"`
	IsTruncated bool
}

type xmlListMetrics struct {
	XMLName     xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMetricsConfigurationsResult"`
	IsTruncated bool
}

type xmlListTiering struct {
	XMLName     xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketIntelligentTieringConfigurationsOutput"`
	IsTruncated bool
}
