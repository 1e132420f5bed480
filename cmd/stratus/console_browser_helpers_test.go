package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/sync/errgroup"
)

// The console's browser tests share one headless Chromium and one all-in-one server per
// test binary (TestMain stops both); each test gets its own tab in its own browser context
// (its own cookies), so logins do not leak between tests.

var sharedBrowser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

// browserTab opens a tab in a fresh browser context for the test's lifetime and returns a
// context bounded by timeout to drive it. It skips without Chromium, except in CI.
func browserTab(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (apt-get install chromium): the console's browser tests need it in CI")
		}
		t.Skip("chromium is not installed (apt-get install chromium): skipping the console's browser tests")
	}
	sharedBrowser.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
			chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1280, 800))
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		sharedBrowser.ctx, sharedBrowser.cancel = bctx, func() { bcancel(); acancel() }
		// The first run starts the browser, which lives as long as bctx.
		sharedBrowser.err = chromedp.Do(bctx)
	})
	if sharedBrowser.err != nil {
		t.Fatalf("start chromium: %v", sharedBrowser.err)
	}
	tab, cancel := chromedp.NewContext(sharedBrowser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(func() {
		if err := finishWithin("closed", cancel); err != nil {
			t.Errorf("browser tab: %v", err)
		}
	})
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	ctx, cancelT := context.WithTimeout(tab, timeout)
	t.Cleanup(cancelT)
	return ctx
}

// consoleFixture is the shared server with its console.
type consoleFixture struct {
	creds adminCredentials
	f     serverFlags
	dir   string
	stop  func() error
}

var sharedConsole struct {
	once sync.Once
	fx   *consoleFixture
	err  error
}

// consoleServer starts (once per binary) an all-in-one server with EC2, volumes, metrics
// and the console on loopback.
func consoleServer(t *testing.T) *consoleFixture {
	t.Helper()
	sharedConsole.once.Do(func() {
		dir, err := os.MkdirTemp("", "stratus-console-")
		if err != nil {
			sharedConsole.err = err
			return
		}
		fx := &consoleFixture{dir: dir}
		fx.f = serverFlags{dataDir: filepath.Join(dir, "data"), devices: 3, replicas: 3, partPower: 6,
			metaListen: "127.0.0.1:0", objListen: "127.0.0.1:0", ec2Listen: "127.0.0.1:0", nbdListen: "127.0.0.1:0", volumeHost: "the-host",
			consoleListen: "127.0.0.1:0", consoleTTL: time.Hour,
			front: frontFlags{listen: "127.0.0.1:0", region: "us-east-1", metrics: freeAddr(t)}}
		ready := make(chan adminCredentials, 1)
		srv := runInBackground(context.Background(), func(ctx context.Context) error {
			return runServer(ctx, fx.f, func(c adminCredentials) { ready <- c })
		})
		fx.stop = func() error {
			defer os.RemoveAll(dir)
			return srv.stop()
		}
		select {
		case fx.creds = <-ready:
			sharedConsole.fx = fx
		case <-srv.done:
			os.RemoveAll(dir)
			sharedConsole.err = fmt.Errorf("server: %w", srv.err)
		case <-time.After(time.Minute):
			fx.stop()
			sharedConsole.err = errors.New("server not ready in a minute")
		}
	})
	if sharedConsole.err != nil {
		t.Fatal(sharedConsole.err)
	}
	return sharedConsole.fx
}

// stopConsoleFixtures ends the shared browser and server (from TestMain), and says what
// did not end.
func stopConsoleFixtures() error {
	var errs []error
	if sharedBrowser.cancel != nil {
		if err := finishWithin("closed", sharedBrowser.cancel); err != nil {
			errs = append(errs, fmt.Errorf("browser: %w", err))
		}
	}
	if sharedConsole.fx != nil {
		if err := sharedConsole.fx.stop(); err != nil {
			errs = append(errs, fmt.Errorf("console server: %w", err))
		}
	}
	return errors.Join(errs...)
}

// extraConsole runs another console (its own flags) against the shared server until the
// test ends, and returns its URL.
func extraConsole(t *testing.T, fx *consoleFixture, tune func(*consoleFlags)) string {
	t.Helper()
	cf := consoleFlags{listen: "127.0.0.1:0", s3: fx.creds.Endpoint, ec2: fx.creds.EC2Endpoint, region: fx.creds.Region, sessionTTL: time.Hour, adminAccount: "admin"}
	if tune != nil {
		tune(&cf)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	url, err := startConsole(gctx, g, cf, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := finishWithin("stopped", func() { cancel(); _ = g.Wait() }); err != nil {
			t.Errorf("console: %v", err)
		}
	})
	return url
}

// artifactsDir is where screenshots go: $STRATUS_ARTIFACTS, else the test's temporary
// directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("STRATUS_ARTIFACTS"); d != "" {
		d = filepath.Join(d, "console")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// screenshot saves the whole page as name.png under dir.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// do runs browser steps, failing the test with what it was doing.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds, failing with the page's message
// line after timeout.
func waitFor(t *testing.T, ctx context.Context, what, cond string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("msg")||{}).textContent||""`))
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash + " " + ((document.getElementById("main")||{}).innerHTML||"").slice(0, 1500)`))
			t.Fatalf("%s: not within %v (page says %q; last error %v)\npage: %s", what, timeout, msg, err, page)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// loginAs logs in on the console's page.
func loginAs(t *testing.T, ctx context.Context, url, key, secret string) {
	t.Helper()
	do(t, ctx, "log in",
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("#login-access")),
		chromedp.SendKeys(chromedp.CSS("#login-access"), key),
		chromedp.SendKeys(chromedp.CSS("#login-secret"), secret),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")))
}
