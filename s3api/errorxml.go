package s3api

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
)

// ErrorResponse is S3's XML error body.
type ErrorResponse struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	BucketName string   `xml:"BucketName,omitempty"`
	Key        string   `xml:"Key,omitempty"`
	Resource   string   `xml:"Resource,omitempty"`
	// ArgumentName and ArgumentValue name the argument an InvalidArgument is about.
	ArgumentName  string `xml:"ArgumentName,omitempty"`
	ArgumentValue string `xml:"ArgumentValue,omitempty"`
	RequestID     string `xml:"RequestId"`
	HostID        string `xml:"HostId,omitempty"`
}

// HeaderRequestID is the response header that carries the request ID on every response.
const HeaderRequestID = "X-Amz-Request-Id"

// WriteError writes err as S3 does: the status and code from the table (see [Lookup]), the
// x-amz-request-id header (and Retry-After for a [SlowDownError]), and an XML body naming
// the resource (the request path) and the request ID. HEAD requests and 304 responses get
// no body, as HTTP requires. It returns what it wrote; when ok is false the error was
// unmapped and the caller should log err with requestID.
func WriteError(w http.ResponseWriter, r *http.Request, requestID string, err error) (api APIError, ok bool) {
	api, ok = Lookup(err)
	h := w.Header()
	h.Set(HeaderRequestID, requestID)
	var slow *SlowDownError
	if errors.As(err, &slow) {
		h.Set("Retry-After", retryAfterSeconds(slow.RetryAfter))
	}
	if api.HTTPStatus == http.StatusNotModified || r.Method == http.MethodHead {
		w.WriteHeader(api.HTTPStatus)
		return api, ok
	}
	resp := ErrorResponse{
		Code:      api.Code,
		Message:   api.Message,
		Resource:  r.URL.Path,
		RequestID: requestID,
	}
	if detail := (*Error)(nil); errors.As(err, &detail) && api.Code == "InvalidArgument" {
		resp.ArgumentName, resp.ArgumentValue = detail.ArgumentName, detail.ArgumentValue
	}
	body := encodeXML(resp)
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(api.HTTPStatus)
	_, _ = w.Write(body) // the client has gone if this fails; nothing else to tell it
	return api, ok
}

// encodeXML renders v with S3's XML declaration. v is one of this package's response types,
// which always encode, so an error here is a programmer error.
func encodeXML(v any) []byte {
	out, err := xml.Marshal(v)
	if err != nil {
		panic("s3api: encode " + err.Error())
	}
	return append([]byte(xml.Header), out...)
}
