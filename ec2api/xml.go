package ec2api

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strconv"
	"time"
)

// response is embedded first in every response body, so requestId comes first as in EC2.
type response struct {
	RequestID string `xml:"requestId"`
}

func (r *response) setRequestID(id string) { r.RequestID = id }

// responder is a response body: a pointer to a struct embedding response.
type responder interface{ setRequestID(string) }

// set is an EC2 list: <name><item>…</item>…</name>, present (empty) when it has no items,
// as EC2 sends it, so clients see an empty list rather than none.
type set[T any] struct {
	Items []T `xml:"item"`
}

// tagItem is one tag in a resource's tagSet.
type tagItem struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// timeFormat is how EC2 writes times: ISO 8601 in UTC with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

func ec2Time(t time.Time) string { return t.UTC().Format(timeFormat) }

// writeResponse writes body as <ActionResponse xmlns=Namespace>.
func writeResponse(w http.ResponseWriter, action string, body responder, reqID string) {
	body.setRequestID(reqID)
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	start := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: Namespace}}}
	if err := xml.NewEncoder(&buf).EncodeElement(body, start); err != nil {
		// Every response type encodes; failure is a programmer error.
		writeError(w, http.StatusInternalServerError, "InternalError", "An internal error has occurred.", reqID, 0)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// errorResponse is EC2's error body; note RequestID, not requestId, as EC2 writes it.
type errorResponse struct {
	XMLName   xml.Name    `xml:"Response"`
	Errors    []errorItem `xml:"Errors>Error"`
	RequestID string      `xml:"RequestID"`
}

type errorItem struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// writeError writes an EC2 error; a 503 carries Retry-After (retryAfter rounded up to whole
// seconds, at least 1).
func writeError(w http.ResponseWriter, status int, code, msg, reqID string, retryAfter time.Duration) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	xml.NewEncoder(&buf).Encode(errorResponse{Errors: []errorItem{{Code: code, Message: msg}}, RequestID: reqID})
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("X-Amzn-Requestid", reqID)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.FormatInt(max(int64((retryAfter+time.Second-1)/time.Second), 1), 10))
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
