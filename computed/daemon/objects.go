package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"stratus/internal/hlc"
	"stratus/meta/client"
	objclient "stratus/objectd/client"
)

// ObjectReader reads a version of a named object from the storage nodes: a *proxy.Proxy.
type ObjectReader interface {
	Get(ctx context.Context, name string, version hlc.Timestamp, rng *objclient.Range) (*objclient.Object, error)
}

// An image's bytes are an S3 object, read the way the S3 API reads one: the object index in
// meta names the current version, and the storage nodes hold its bytes under the object's
// data name. The names and the multipart manifest below are the layout s3api stores
// (s3api/server.go objectName, versions.go dataName, multipart.go manifest); they are
// stored formats, so they do not change under us.

// maxManifestBytes bounds a multipart manifest (10,000 parts fit).
const maxManifestBytes = 8 << 20

type manifest struct {
	Parts []manifestPart `json:"parts"`
}

type manifestPart struct {
	Name    string `json:"name"`
	Version uint64 `json:"version"`
	Size    int64  `json:"size"`
}

// dataName is where the storage nodes hold e's bytes.
func dataName(e client.ObjectEntry) string {
	if e.Data != "" {
		return e.Data
	}
	if len(e.Bucket)+1+len(e.Key) <= objclient.MaxNameBytes {
		return e.Bucket + "/" + e.Key
	}
	sum := sha256.Sum256([]byte(e.Key))
	return ".h/" + e.Bucket + "/" + hex.EncodeToString(sum[:])
}

// resolveObject checks that im's account owns its bucket (an operator's image, with no
// account, may name any) and returns the object's current index entry.
func resolveObject(ctx context.Context, mc *client.Client, im client.Image) (client.ObjectEntry, error) {
	b, _, err := mc.Bucket(ctx, im.Bucket)
	if errors.Is(err, client.ErrNotFound) {
		return client.ObjectEntry{}, fmt.Errorf("%w: image %s: bucket %s does not exist", errNoImage, im.ID, im.Bucket)
	}
	if err != nil {
		return client.ObjectEntry{}, fmt.Errorf("image %s: bucket %s: %w", im.ID, im.Bucket, err)
	}
	if im.Account != "" && b.Owner != im.Account {
		return client.ObjectEntry{}, fmt.Errorf("%w: image %s: bucket %s is not its account's", errNoImage, im.ID, im.Bucket)
	}
	e, err := mc.Index(im.Bucket).GetObject(ctx, im.Bucket, im.Key)
	if errors.Is(err, client.ErrNotFound) {
		return client.ObjectEntry{}, fmt.Errorf("%w: image %s: object %s/%s does not exist", errNoImage, im.ID, im.Bucket, im.Key)
	}
	if err != nil {
		return client.ObjectEntry{}, fmt.Errorf("image %s: object %s/%s: %w", im.ID, im.Bucket, im.Key, err)
	}
	return e, nil
}

// copyObject writes the bytes of the object version e to w, part by part for a multipart
// object, and checks the length.
func copyObject(ctx context.Context, objs ObjectReader, e client.ObjectEntry, w io.Writer) error {
	if !strings.Contains(e.ETag, "-") { // single part: multipart ETags end in -<parts>
		n, err := copyVersion(ctx, objs, dataName(e), e.Version, w)
		if err == nil && n != e.Size {
			err = fmt.Errorf("object %s/%s: read %d bytes, the index says %d", e.Bucket, e.Key, n, e.Size)
		}
		return err
	}
	total, err := copyParts(ctx, objs, dataName(e), e.Version, w)
	if err != nil {
		return fmt.Errorf("object %s/%s: %w", e.Bucket, e.Key, err)
	}
	if total != e.Size {
		return fmt.Errorf("object %s/%s: parts hold %d bytes, the index says %d", e.Bucket, e.Key, total, e.Size)
	}
	return nil
}

// readManifest reads the manifest stored as version of name.
func readManifest(ctx context.Context, objs ObjectReader, name string, version uint64) (manifest, error) {
	var mb strings.Builder
	if _, err := copyVersion(ctx, objs, name, version, &limitedWriter{w: &mb, n: maxManifestBytes}); err != nil {
		return manifest{}, fmt.Errorf("manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal([]byte(mb.String()), &m); err != nil {
		return manifest{}, fmt.Errorf("manifest %s: %w", name, err)
	}
	return m, nil
}

// copyParts writes the parts the manifest stored as version of name lists to w, in order,
// checking each one's length, and returns the bytes written.
func copyParts(ctx context.Context, objs ObjectReader, name string, version uint64, w io.Writer) (int64, error) {
	m, err := readManifest(ctx, objs, name, version)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, p := range m.Parts {
		n, err := copyVersion(ctx, objs, p.Name, p.Version, w)
		if err != nil {
			return total, err
		}
		if n != p.Size {
			return total, fmt.Errorf("part %s: read %d bytes, want %d", p.Name, n, p.Size)
		}
		total += n
	}
	return total, nil
}

// copyVersion copies one stored version whole; the storage node's checksum of a whole read
// fails the body's last Read if the bytes rotted.
func copyVersion(ctx context.Context, objs ObjectReader, name string, version uint64, w io.Writer) (int64, error) {
	obj, err := objs.Get(ctx, name, hlc.Timestamp(version), nil)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	defer obj.Body.Close()
	n, err := io.Copy(w, obj.Body)
	if err != nil {
		return n, fmt.Errorf("read %s: %w", name, err)
	}
	return n, nil
}

type limitedWriter struct {
	w io.Writer
	n int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, errors.New("manifest larger than 8 MiB")
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}
