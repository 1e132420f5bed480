package meta_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"stratus/meta"
	"stratus/meta/client"
	"stratus/meta/metatest"
)

// post sends body to a node's path with the given Content-Type and Accept, and returns the
// reply's status, Content-Type and body.
func post(t *testing.T, addr, path, contentType, accept string, body []byte) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t, 10*time.Second), http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, client.MaxBodyBytes))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), data
}

// TestWireRollingUpgrade runs a cluster with one node that speaks only JSON, as nodes did
// before the binary wire form: binary callers get binary replies from new nodes (also
// through a follower's forward), JSON callers get JSON from every node, and a new client
// that reaches only the old node falls back to JSON and works.
func TestWireRollingUpgrade(t *testing.T) {
	const oldNode = "m1"
	c := metatest.New(t, metatest.Options{Quiet: true, Configure: func(cfg *meta.Config) {
		if cfg.NodeID == oldNode {
			meta.JSONOnly(cfg)
		}
	}})
	ctx := ctxT(t, 60*time.Second)
	value := bytes.Repeat([]byte{0, 0xff, '"', '{'}, 1024) // not text: JSON would need base64
	if err := c.Client().Put(ctx, client.TableObjects, "b/k", value); err != nil {
		t.Fatal(err)
	}
	getBin, err := client.EncodeBinary(client.GetRequest{Table: client.TableObjects, Key: "b/k"})
	if err != nil {
		t.Fatal(err)
	}
	getJSON, _ := json.Marshal(client.GetRequest{Table: client.TableObjects, Key: "b/k"})

	for i, n := range c.Nodes {
		status, ct, body := post(t, n.Addr, client.PathGet, client.ContentTypeBinary, client.ContentTypeBinary, getBin)
		if n.ID == oldNode {
			var er client.ErrorResponse
			if status != http.StatusBadRequest || json.Unmarshal(body, &er) != nil || er.Code != client.CodeBadRequest {
				t.Fatalf("old node %d answered a binary get with %d %s %q", i, status, ct, body)
			}
		} else {
			var resp client.GetResponse
			if status != http.StatusOK || ct != client.ContentTypeBinary {
				t.Fatalf("node %d answered a binary get with %d %s %q", i, status, ct, body)
			}
			if err := client.DecodeBinary(body, &resp); err != nil || !bytes.Equal(resp.Item.Value, value) {
				t.Fatalf("node %d: binary get = %v, value equal %v", i, err, bytes.Equal(resp.Item.Value, value))
			}
		}
		// A client from before the binary form sends JSON and no Accept: JSON comes back.
		status, ct, body = post(t, n.Addr, client.PathGet, "application/json", "", getJSON)
		var resp client.GetResponse
		if status != http.StatusOK || !strings.HasPrefix(ct, "application/json") || json.Unmarshal(body, &resp) != nil || !bytes.Equal(resp.Item.Value, value) {
			t.Fatalf("node %d answered a JSON get with %d %s", i, status, ct)
		}
	}

	// A new client that reaches only the old node: writes, reads and lists still work.
	old := c.NodeClient(1)
	if err := old.Put(ctx, client.TableObjects, "b/k2", value); err != nil {
		t.Fatalf("put through the old node: %v", err)
	}
	it, err := old.Get(ctx, client.TableObjects, "b/k2")
	if err != nil || !bytes.Equal(it.Value, value) {
		t.Fatalf("get through the old node: %v", err)
	}
	items, _, err := old.List(ctx, client.TableObjects, "b/", "", 10)
	if err != nil || len(items) != 2 || !bytes.Equal(items[1].Value, value) {
		t.Fatalf("list through the old node: %d items, %v", len(items), err)
	}
	// And a new client of the new nodes reads what went through the old one.
	items, _, err = c.NodeClient(2).List(ctx, client.TableObjects, "b/", "", 10)
	if err != nil || len(items) != 2 || items[0].Key != "b/k" || items[1].Key != "b/k2" {
		t.Fatalf("list through a new node: %+v, %v", items, err)
	}
}
