package bench

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// unsignedPayload is the SigV4 payload hash that leaves the body unsigned: the tool spends
// no CPU hashing bodies, as clients over TLS commonly do.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// client is a minimal S3 client: path-style requests signed with SigV4.
type client struct {
	endpoint *url.URL
	region   string
	creds    aws.Credentials
	signer   *v4.Signer
	http     *http.Client
}

func newClient(endpoint, region, accessKey, secretKey string, conns int, timeout time.Duration) (*client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("endpoint %q: want http(s)://host:port", endpoint)
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:          conns * 2,
		MaxIdleConnsPerHost:   conns * 2,
		IdleConnTimeout:       time.Minute,
		ResponseHeaderTimeout: timeout,
		TLSHandshakeTimeout:   5 * time.Second,
		DisableCompression:    true,
	}
	return &client{endpoint: u, region: region, signer: v4.NewSigner(),
		creds: aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey},
		http:  &http.Client{Transport: tr}}, nil
}

// S3Error is an error answer from the endpoint.
type S3Error struct {
	Status int
	Code   string
}

func (e *S3Error) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Code) }

// do signs and sends a request; body may be nil.
func (c *client) do(ctx context.Context, method, bucket, key string, query url.Values, body io.Reader, length int64, hdr http.Header) (*http.Response, error) {
	u := *c.endpoint
	u.Path = "/" + bucket
	if key != "" {
		u.Path += "/" + key
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if body == nil {
		req.Body = nil
	}
	req.ContentLength = length
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
	if err := c.signer.SignHTTP(ctx, c.creds, req, unsignedPayload, "s3", c.region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e struct {
			Code string `xml:"Code"`
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		xml.Unmarshal(data, &e)
		if e.Code == "" {
			e.Code = strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "")
		}
		return nil, &S3Error{Status: resp.StatusCode, Code: e.Code}
	}
	return resp, nil
}

// errorCode names err for the error table of a report.
func errorCode(err error) string {
	var se *S3Error
	switch {
	case asS3Error(err, &se):
		return se.Code
	case strings.Contains(err.Error(), "timeout"), strings.Contains(err.Error(), "deadline"):
		return "Timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "ConnectionRefused"
	case strings.Contains(err.Error(), "reset"), strings.Contains(err.Error(), "EOF"):
		return "ConnectionReset"
	}
	return "TransportError"
}

func asS3Error(err error, target **S3Error) bool {
	se, ok := err.(*S3Error)
	if ok {
		*target = se
	}
	return ok
}
