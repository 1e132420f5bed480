package s3api_test

import (
	"bufio"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"stratus/internal/testcluster"
)

// TestExpectContinueZeroBytes checks that a PUT of nothing that asks "Expect: 100-continue"
// gets the interim 100 before its final status, on the wire and as boto3 sees it.
func TestExpectContinueZeroBytes(t *testing.T) {
	c, _, _ := withBucket(t, "expect")
	req := signed(t, c, "PUT", "/expect/empty", "", time.Now())
	req.Header.Set("Expect", "100-continue")
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var lines []string
	for len(lines) < 2 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the response: %v (status lines so far %q)", err, lines)
		}
		if strings.HasPrefix(line, "HTTP/") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	if lines[0] != "HTTP/1.1 100 Continue" || lines[1] != "HTTP/1.1 200 OK" {
		t.Fatalf("status lines %q, want 100 Continue then 200 OK", lines)
	}
	runBoto3(t, c, "expect", "expect")
}

func TestExpectContinueZeroBytesTLS(t *testing.T) {
	c := testcluster.StartS3(t, testcluster.S3Options{TLS: true})
	runBoto3(t, c, "", "expect")
}

func TestCreateOwnedBucketUSEast1(t *testing.T) {
	c := testcluster.StartS3(t, testcluster.S3Options{})
	runBoto3(t, c, "", "createbucket")
}

func TestBoto3SigV2(t *testing.T) {
	c, _, _ := withBucket(t, "sigv2")
	runBoto3(t, c, "sigv2", "sigv2")
}
