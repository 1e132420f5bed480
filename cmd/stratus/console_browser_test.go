package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"stratus/internal/pki"
)

func (fx *consoleFixture) s3Client() *s3.Client {
	return s3.New(s3.Options{Region: fx.creds.Region, BaseEndpoint: aws.String(fx.creds.Endpoint), UsePathStyle: true, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(fx.creds.AccessKey, fx.creds.SecretKey, ""), HTTPClient: &http.Client{Timeout: 30 * time.Second}})
}

// TestConsoleBuckets: in the browser, an admin logs in, makes a bucket, uploads 20 MiB
// with a moving progress bar, downloads it byte for byte, shares it with a link that a
// plain HTTP client can fetch, and turns versioning on.
func TestConsoleBuckets(t *testing.T) {
	fx := consoleServer(t)
	ctx := browserTab(t, 90*time.Second)
	art := artifactsDir(t)
	loginAs(t, ctx, fx.creds.ConsoleURL, fx.creds.AccessKey, fx.creds.SecretKey)
	waitFor(t, ctx, "the buckets page", `document.querySelector("#bucket-name")`, 10*time.Second)
	do(t, ctx, "create a bucket",
		chromedp.SendKeys(chromedp.CSS("#bucket-name"), "photos"),
		chromedp.Click(chromedp.CSS("#create-bucket button[type=submit]")))
	waitFor(t, ctx, "the new bucket listed", `document.querySelector('a[href="#/b/photos"]')`, 10*time.Second)
	screenshot(t, ctx, art, "buckets")
	do(t, ctx, "open the bucket", chromedp.Click(chromedp.CSS(`a[href="#/b/photos"]`)), chromedp.WaitVisible(chromedp.CSS("#upload-file")))

	// 20 MiB of random bytes: more than two parts, so a multipart upload.
	data := make([]byte, 20<<20)
	rand.Read(data)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	file := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Loopback takes 20 MiB in a tenth of a second, between two progress events; the
	// browser's own network throttling makes the upload last about a second, as over a
	// real link, so that the bar has values to show on the way.
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{DownloadThroughput: -1, UploadThroughput: 20 << 20}}}); err != nil {
		t.Fatalf("throttle the upload: %v", err)
	}
	// Record every value the progress bar shows.
	eval[chromedp.Void](t, ctx, `window.seen = []; const p = document.getElementById("upload-progress");
		new MutationObserver(() => window.seen.push(Number(p.value))).observe(p, {attributes: true})`)
	begin := time.Now()
	do(t, ctx, "upload", chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{file}),
		chromedp.Click(chromedp.CSS("#upload-form button[type=submit]")))
	waitFor(t, ctx, "the upload", `document.getElementById("msg").textContent.startsWith("Uploaded big.bin")`, 60*time.Second)
	t.Logf("20 MiB uploaded through the page in %v", time.Since(begin).Round(time.Millisecond))
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{}}); err != nil {
		t.Fatalf("stop throttling: %v", err)
	}
	seen := eval[[]float64](t, ctx, `window.seen`)
	between := 0
	for _, v := range seen {
		if v > 0 && v < 100 {
			between++
		}
	}
	if between == 0 || seen[len(seen)-1] != 100 {
		t.Fatalf("progress bar went through %v: want values between 0 and 100, ending at 100", seen)
	}
	waitFor(t, ctx, "the object listed", `document.querySelector('a[aria-label="Download big.bin"]')`, 10*time.Second)
	got := eval[string](t, ctx, `fetch(document.querySelector('a[aria-label="Download big.bin"]').href)
		.then(r => r.arrayBuffer()).then(b => crypto.subtle.digest("SHA-256", b))
		.then(h => Array.from(new Uint8Array(h)).map(x => x.toString(16).padStart(2, "0")).join(""))`)
	if got != want {
		t.Fatalf("downloaded SHA-256 %s, uploaded %s", got, want)
	}

	// A share link works for anyone, without the session.
	do(t, ctx, "share", chromedp.Click(chromedp.CSS(`button[aria-label="Share big.bin"]`)),
		chromedp.WaitVisible(chromedp.CSS("#share-form")),
		chromedp.Click(chromedp.CSS("#share-form button[type=submit]")))
	waitFor(t, ctx, "the share link", `document.getElementById("share-url").value.startsWith("http")`, 10*time.Second)
	link := eval[string](t, ctx, `document.getElementById("share-url").value`)
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	io.Copy(h, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || hex.EncodeToString(h.Sum(nil)) != want {
		t.Fatalf("share link %s: %s, SHA-256 %x", link, resp.Status, h.Sum(nil))
	}

	do(t, ctx, "turn versioning on", chromedp.Click(chromedp.CSS("#versioning")))
	waitFor(t, ctx, "versioning on", `document.getElementById("versioning-status").textContent === "Enabled"`, 10*time.Second)
	v, err := fx.s3Client().GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("photos")})
	if err != nil || v.Status != "Enabled" {
		t.Fatalf("versioning through S3: %v %v", v, err)
	}
	screenshot(t, ctx, art, "bucket")
}

// TestConsoleRefusals: a wrong secret is refused with the API's message; a second
// account sees none of the first's buckets, and the API's refusal shows when it tries.
func TestConsoleRefusals(t *testing.T) {
	fx := consoleServer(t)
	if _, err := fx.s3Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("admins-only")}); err != nil {
		t.Fatal(err)
	}
	ctx := browserTab(t, 60*time.Second)
	loginAs(t, ctx, fx.creds.ConsoleURL, fx.creds.AccessKey, "not-the-secret")
	waitFor(t, ctx, "the refusal", `document.getElementById("msg").textContent.includes("SignatureDoesNotMatch")`, 10*time.Second)
	if eval[bool](t, ctx, `!document.querySelector("#login-form") || !document.getElementById("nav").hidden`) {
		t.Fatal("a wrong secret got past the login form")
	}
	screenshot(t, ctx, artifactsDir(t), "login-refused")

	key, secret := consoleUser(t, fx, "bob")
	loginAs(t, ctx, fx.creds.ConsoleURL, key, secret)
	waitFor(t, ctx, "bob's bucket list", `document.querySelector("#main tbody td")`, 10*time.Second)
	if eval[bool](t, ctx, `document.getElementById("main").textContent.includes("admins-only")`) {
		t.Fatal("bob sees the admin's bucket")
	}
	if !eval[bool](t, ctx, `document.getElementById("who").textContent === "bob"`) {
		t.Fatal("the page does not name bob's account")
	}
	if eval[bool](t, ctx, `!document.querySelector('nav a[href="#/users"]').parentElement.hidden`) {
		t.Fatal("bob is offered the admin pages")
	}
	eval[chromedp.Void](t, ctx, `location.hash = "#/b/admins-only"`)
	waitFor(t, ctx, "the API's refusal", `document.getElementById("msg").textContent.includes("AccessDenied")`, 10*time.Second)
}

// consoleUser makes an account and a key with the admin certificate, as stratus user
// create does.
func consoleUser(t *testing.T, fx *consoleFixture, name string) (key, secret string) {
	t.Helper()
	id, err := pki.Load(pki.InDir(filepath.Join(fx.f.dataDir, "pki"), "admin"))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := metaClientAs(id, []string{fx.creds.MetaAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	a := &consoleAdmin{id: id, addrs: []string{fx.creds.MetaAddr}, mc: mc}
	k, err := a.CreateUser(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return k.AccessKey, k.SecretKey
}

// TestConsoleSessionExpires: after its TTL a session is refused and the page asks for a
// login again.
func TestConsoleSessionExpires(t *testing.T) {
	fx := consoleServer(t)
	// Long enough that a loaded machine still shows the logged-in page before it ends.
	const ttl = 4 * time.Second
	url := extraConsole(t, fx, func(f *consoleFlags) { f.sessionTTL = ttl })
	ctx := browserTab(t, 30*time.Second)
	loginAs(t, ctx, url, fx.creds.AccessKey, fx.creds.SecretKey)
	waitFor(t, ctx, "logged in", `document.querySelector("#bucket-name")`, 10*time.Second)
	time.Sleep(ttl + 100*time.Millisecond)
	do(t, ctx, "reload", chromedp.Reload())
	waitFor(t, ctx, "the login form again", `document.querySelector("#login-form")`, 10*time.Second)
	// The server refuses the session too, whatever the browser keeps.
	eval[chromedp.Void](t, ctx, `location.hash = "#/volumes"`)
	st := eval[int](t, ctx, `fetch("/api/buckets").then(r => r.status)`)
	if st != http.StatusUnauthorized {
		t.Fatalf("an expired session's call: %d", st)
	}
}

// TestConsoleVolumes: create a volume, snapshot it, and create a volume from the snapshot.
func TestConsoleVolumes(t *testing.T) {
	fx := consoleServer(t)
	ctx := browserTab(t, 60*time.Second)
	loginAs(t, ctx, fx.creds.ConsoleURL, fx.creds.AccessKey, fx.creds.SecretKey)
	waitFor(t, ctx, "logged in", `document.querySelector("#bucket-name")`, 10*time.Second)
	eval[chromedp.Void](t, ctx, `location.hash = "#/volumes"`)
	waitFor(t, ctx, "the volumes page", `document.querySelector("#create-volume") && document.querySelector("#volumes table")`, 10*time.Second)
	before := eval[int](t, ctx, `document.querySelectorAll('#volumes button[aria-label^="Snapshot vol-"]').length`)
	do(t, ctx, "create a volume", chromedp.Click(chromedp.CSS("#create-volume button[type=submit]")))
	waitFor(t, ctx, "the volume", fmt.Sprintf(`document.querySelectorAll('#volumes button[aria-label^="Snapshot vol-"]').length === %d`, before+1), 10*time.Second)
	vol := eval[string](t, ctx, `document.getElementById("msg").textContent.match(/vol-[0-9a-f]+/)[0]`)
	do(t, ctx, "snapshot it", chromedp.Click(chromedp.CSS(`button[aria-label="Snapshot `+vol+`"]`)))
	waitFor(t, ctx, "the snapshot", `document.querySelector('#snapshots button[aria-label^="Create volume from snap-"]')`, 10*time.Second)
	snap := eval[string](t, ctx, `document.getElementById("msg").textContent.match(/snap-[0-9a-f]+/)[0]`)
	// The snapshot completes in the background; a volume can be made from it once it has.
	waitFor(t, ctx, "the snapshot completed", `document.querySelector("#snapshots").textContent.includes("completed")`, 20*time.Second)
	do(t, ctx, "create a volume from it", chromedp.Click(chromedp.CSS(`button[aria-label="Create volume from `+snap+`"]`)),
		chromedp.Click(chromedp.CSS("#create-volume button[type=submit]")))
	if v := eval[string](t, ctx, `document.getElementById("volume-snapshot").value`); v != snap {
		t.Fatalf("the form's snapshot is %q, want %s", v, snap)
	}
	waitFor(t, ctx, "the volume from the snapshot", `document.getElementById("volumes").textContent.includes("(from `+snap+`)")`, 10*time.Second)
	screenshot(t, ctx, artifactsDir(t), "volumes")
	if !strings.HasPrefix(vol, "vol-") || !strings.HasPrefix(snap, "snap-") {
		t.Fatalf("volume %q snapshot %q", vol, snap)
	}
}

// TestConsoleAccessible: on every page at 1280×800 and at 390 px wide, every form control
// has a label and nothing overflows sideways; Tab moves the focus through the controls,
// visibly, and a bucket can be made with the keyboard alone.
func TestConsoleAccessible(t *testing.T) {
	fx := consoleServer(t)
	if _, err := fx.s3Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("a11y")}); err != nil {
		t.Fatal(err)
	}
	ctx := browserTab(t, 90*time.Second)
	art := artifactsDir(t)
	pages := []string{"login", "#/buckets", "#/b/a11y", "#/overview", "#/volumes", "#/instances", "#/images", "#/users"}
	for _, vp := range []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 800}, {"mobile", 390, 844}} {
		do(t, ctx, "viewport", chromedp.EmulateViewport(vp.w, vp.h))
		do(t, ctx, "open", chromedp.Navigate(fx.creds.ConsoleURL))
		// Logged in already (the first viewport's session): log out.
		waitFor(t, ctx, "the page", `document.querySelector("#login-form, #main h1[tabindex]")`, 10*time.Second)
		eval[chromedp.Void](t, ctx, `document.getElementById("logout").hidden || document.getElementById("logout").click()`)
		waitFor(t, ctx, "the login form", `document.querySelector("#login-form")`, 10*time.Second)
		for _, pg := range pages {
			if pg != "login" {
				if pg == "#/buckets" {
					loginAs(t, ctx, fx.creds.ConsoleURL, fx.creds.AccessKey, fx.creds.SecretKey)
					waitFor(t, ctx, "logged in", `document.querySelector("#bucket-name")`, 10*time.Second)
				}
				eval[chromedp.Void](t, ctx, fmt.Sprintf(`location.hash = %q`, pg))
				waitFor(t, ctx, pg, `document.querySelector("#main h1") && document.querySelector("#main table, #main .charts")`, 10*time.Second)
				time.Sleep(200 * time.Millisecond) // the page's other calls
			}
			unlabelled := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("input, select, textarea, progress"))
				.filter(e => e.type !== "hidden" && !(e.labels && e.labels.length) && !e.getAttribute("aria-label"))
				.map(e => e.id || e.outerHTML.slice(0, 80))`)
			if len(unlabelled) > 0 {
				t.Errorf("%s %s: controls without a label: %v", vp.name, pg, unlabelled)
			}
			if overflow := eval[string](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth ? "" :
				document.documentElement.scrollWidth + " > " + window.innerWidth`); overflow != "" {
				t.Errorf("%s %s: the page overflows sideways: %s", vp.name, pg, overflow)
			}
			screenshot(t, ctx, art, vp.name+"-"+strings.NewReplacer("#/", "", "/", "-").Replace(pg))
		}
	}

	// Keyboard: from the buckets page's heading, Tab reaches the new-bucket field and its
	// button, each focus visibly outlined, and Enter creates the bucket.
	do(t, ctx, "viewport", chromedp.EmulateViewport(1280, 800))
	eval[chromedp.Void](t, ctx, `location.hash = "#/buckets"`)
	waitFor(t, ctx, "the buckets page", `document.activeElement && document.activeElement.tagName === "H1"`, 10*time.Second)
	var trail []string
	reached := map[string]bool{}
	for range 12 {
		do(t, ctx, "tab", chromedp.KeyEvent(kb.Tab))
		f := eval[string](t, ctx, `(e => (e.id || e.tagName + ":" + e.textContent.trim().slice(0, 20)) + "|" + getComputedStyle(e).outlineStyle)(document.activeElement)`)
		name, outline, _ := strings.Cut(f, "|")
		if len(trail) > 0 && trail[len(trail)-1] == name {
			t.Fatalf("Tab did not move the focus from %s", name)
		}
		if outline == "none" {
			t.Errorf("focused %s has no visible outline", name)
		}
		trail = append(trail, name)
		reached[name] = true
		if name == "bucket-name" {
			break
		}
	}
	if !reached["bucket-name"] {
		t.Fatalf("Tab never reached the new-bucket field: %v", trail)
	}
	do(t, ctx, "type and press Enter", chromedp.KeyEvent("by-keyboard"), chromedp.KeyEvent(kb.Enter))
	waitFor(t, ctx, "the bucket made by keyboard", `document.querySelector('a[href="#/b/by-keyboard"]')`, 10*time.Second)
	do(t, ctx, "tab to the button", chromedp.Focus(chromedp.CSS("#bucket-name")), chromedp.KeyEvent(kb.Tab))
	if f := eval[string](t, ctx, `document.activeElement.textContent`); f != "Create bucket" {
		t.Fatalf("Tab from the field went to %q, not its button", f)
	}
	t.Logf("focus trail: %v", trail)
}

// TestConsoleAdminPages: the admin sees the cluster's health and traffic charts, and makes
// an account whose key then logs in.
func TestConsoleAdminPages(t *testing.T) {
	fx := consoleServer(t)
	ctx := browserTab(t, 60*time.Second)
	loginAs(t, ctx, fx.creds.ConsoleURL, fx.creds.AccessKey, fx.creds.SecretKey)
	waitFor(t, ctx, "logged in", `document.querySelector("#bucket-name")`, 10*time.Second)
	eval[chromedp.Void](t, ctx, `location.hash = "#/users"`)
	waitFor(t, ctx, "the users page", `document.querySelector("#create-user") && document.querySelector("#users table")`, 10*time.Second)
	do(t, ctx, "create an account", chromedp.SendKeys(chromedp.CSS("#user-name"), "carol"), chromedp.Click(chromedp.CSS("#create-user button[type=submit]")))
	waitFor(t, ctx, "the new key", `document.getElementById("new-key-text")`, 10*time.Second)
	waitFor(t, ctx, "carol listed", `document.getElementById("users").textContent.includes("carol")`, 10*time.Second)
	text := eval[string](t, ctx, `document.getElementById("new-key-text").value`)
	var key, secret string
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "access key: "); ok {
			key = v
		}
		if v, ok := strings.CutPrefix(line, "secret key: "); ok {
			secret = v
		}
	}
	screenshot(t, ctx, artifactsDir(t), "users")

	// The overview: health from stratus status, charts once two samples are in (5 s apart).
	deadline := time.Now().Add(15 * time.Second)
	for {
		eval[chromedp.Void](t, ctx, `location.hash === "#/overview" ? route() : (location.hash = "#/overview")`)
		waitFor(t, ctx, "the cluster's health", `document.getElementById("status").textContent.includes("Storage nodes")`, 10*time.Second)
		if eval[bool](t, ctx, `document.querySelectorAll("#charts svg").length === 3 && document.getElementById("charts").textContent.includes("now ")`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no charts: %s", eval[string](t, ctx, `document.getElementById("charts").textContent`))
		}
		time.Sleep(time.Second)
	}
	screenshot(t, ctx, artifactsDir(t), "overview")

	eval[chromedp.Void](t, ctx, `document.getElementById("logout").click()`)
	waitFor(t, ctx, "logged out", `document.querySelector("#login-form")`, 10*time.Second)
	loginAs(t, ctx, fx.creds.ConsoleURL, key, secret)
	waitFor(t, ctx, "carol logged in", `document.getElementById("who").textContent === "carol"`, 10*time.Second)
}
