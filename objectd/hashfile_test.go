package objectd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestSuffixHashesSurviveCleanRestartOnly(t *testing.T) {
	// The saved file is per partition directory; a partition held only in the small-object
	// log has none and is hashed from the log's index.
	n1 := startNode(t, nil, []string{"d1"}, func(c *Config) { c.SmallObjectMax = 0 })
	tg := n1.target("d1", 4)
	for i, name := range []string{"a", "b", "c"} {
		mustPut(t, n1, tg, name, ts(i+1), []byte(name))
	}
	want, err := n1.cl.SuffixHashes(ctxT(t), tg)
	if err != nil {
		t.Fatal(err)
	}
	n1.stop()
	devDir := filepath.Join(n1.dir, "d1")
	file := filepath.Join(partDir(devDir, 4), hashesFile)
	if _, err := os.Stat(filepath.Join(devDir, cleanMarker)); err != nil {
		t.Fatalf("no clean marker after shutdown: %v", err)
	}
	// Plant a suffix that is not on disk: a node that trusts the file will report it.
	plant := func() {
		t.Helper()
		planted := map[string]string{"fff": "planted"}
		for k, v := range want {
			planted[k] = v
		}
		data, _ := json.Marshal(hashesOnDisk{Version: hashesFileVersion, Hashes: planted})
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	plant()

	reuse := func(c *Config) { c.DevicesDir, c.SmallObjectMax = n1.dir, 0 }
	n2 := startNode(t, nil, nil, reuse)
	got, err := n2.cl.SuffixHashes(ctxT(t), n2.target("d1", 4))
	if err != nil {
		t.Fatal(err)
	}
	if got["fff"] != "planted" {
		t.Fatalf("hashes after a clean restart = %v: the saved file was not used", got)
	}
	if _, err := os.Stat(filepath.Join(devDir, cleanMarker)); !os.IsNotExist(err) {
		t.Fatalf("clean marker still present while running: %v", err)
	}
	// A write after the restart invalidates on top of the loaded hashes.
	mustPut(t, n2, n2.target("d1", 4), "d", ts(9), []byte("d"))
	n2.srv.store.hashes.forget("d1", 4) // and drop the planted entry before shutdown
	n2.stop()

	// A crash (no marker) means no saved file is trusted.
	plant()
	os.Remove(filepath.Join(devDir, cleanMarker))
	n3 := startNode(t, nil, nil, reuse)
	got, err = n3.cl.SuffixHashes(ctxT(t), n3.target("d1", 4))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["fff"]; ok {
		t.Fatalf("hashes after a crash = %v: a stale saved file was trusted", got)
	}
	if _, b, err := get(t, n3, n3.target("d1", 4), "d"); err != nil || string(b) != "d" {
		t.Fatalf("object written before the crash: %q, %v", b, err)
	}
}
