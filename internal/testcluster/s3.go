package testcluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"hash/crc32"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/internal/testutil"
	"stratus/meta"
	metaclient "stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
	"stratus/s3api"
)

// S3Options shapes an S3 test cluster.
type S3Options struct {
	Storage StorageOptions
	// Domain enables virtual-hosted-style addressing under it.
	Domain string
	// TLS serves HTTPS with a fresh self-signed certificate for 127.0.0.1 and *.Domain;
	// S3.CertPool trusts it.
	TLS bool
	// Now is the S3 server's clock for Object Lock retention (s3api.ServerConfig.Now).
	Now func() time.Time
}

// S3 is a whole cluster behind the S3 API: a single-voter meta, storage nodes, a proxy
// and the S3 server, with one account ("tester") and its key.
type S3 struct {
	Endpoint  string // http://127.0.0.1:port
	Region    string
	AccessKey string
	SecretKey string
	Account   string
	Storage   *Storage
	Meta      *metaclient.Client
	// MetaAddr is the meta node's address, for tests that build clients of their own.
	MetaAddr string
	// Server is the S3 front end itself, for tests that drive its background work.
	Server *s3api.Server
	// Proxy is its data path, for tests that give it storage policies' rings.
	Proxy *proxy.Proxy
	// CertPool trusts the server's certificate when TLS is on.
	CertPool *x509.CertPool
}

// StartS3 starts the cluster; it stops when the test ends.
func StartS3(t testing.TB, opts S3Options) *S3 {
	t.Helper()
	st := StartStorage(t, opts.Storage)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })

	mcfg := meta.DefaultConfig()
	mcfg.NodeID, mcfg.DataDir, mcfg.Bootstrap = "meta1", t.TempDir(), true
	mcfg.ClusterKey = make([]byte, 32)
	mcfg.Logger = testutil.Logger(t)
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	msrv, err := meta.New(mcfg, mln)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		if err := msrv.Run(ctx); err != nil {
			t.Errorf("meta: %v", err)
		}
	}()
	select {
	case <-msrv.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("meta not ready in 30s")
	}
	mc, err := metaclient.New(metaclient.DefaultConfig(msrv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mc.Close() })
	s := &S3{Region: "us-east-1", Account: "tester", AccessKey: "AKIATESTER0000000001",
		SecretKey: "tester/secret/0000000000000000000000001", Storage: st, Meta: mc, MetaAddr: msrv.Addr()}
	if err := mc.CreateAccount(ctx, metaclient.Account{ID: s.Account, Name: s.Account}); err != nil {
		t.Fatal(err)
	}
	if err := mc.CreateAccessKey(ctx, metaclient.AccessKey{ID: s.AccessKey, Account: s.Account, Secret: s.SecretKey}); err != nil {
		t.Fatal(err)
	}

	nodes := objclient.New(objclient.Config{Timeout: 10 * time.Second})
	t.Cleanup(nodes.CloseIdleConnections)
	px, err := proxy.New(proxy.DefaultConfig(), nodes, &hlc.Clock{}, testutil.Logger(t).With("part", "proxy"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.WaitBackground)
	px.SetRing(st.Ring)
	s.Proxy = px
	verifier := s3api.NewVerifier(s3api.AuthConfig{}, &s3api.MetaCredentials{Meta: mc, TTL: time.Second})
	scfg := s3api.DefaultServerConfig()
	scfg.Logger = testutil.Logger(t).With("part", "s3api")
	scfg.Domain = opts.Domain
	scfg.Now = opts.Now
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Server = s3api.NewServer(scfg, px, mc, verifier)
	hs := &http.Server{Handler: s.Server, ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if opts.TLS {
		cert, pool := selfSigned(t, opts.Domain)
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, hs.TLSConfig)
		s.CertPool, scheme = pool, "https"
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("s3: %v", err)
		}
	}()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		hs.Shutdown(sctx)
		<-served
	})
	s.Endpoint = scheme + "://" + ln.Addr().String()
	return s
}

// selfSigned makes a certificate for 127.0.0.1, localhost and *.domain.
func selfSigned(t testing.TB, domain string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "stratus test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	if domain != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, domain, "*."+domain)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// Account is a second identity on the same cluster, for tests of who may do what.
type Account struct {
	ID, AccessKey, SecretKey string
}

// AddAccount creates account id with one access key.
func (s *S3) AddAccount(t testing.TB, id string) Account {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := Account{ID: id, AccessKey: fmt.Sprintf("AKIA%016X", uint64(len(id))<<56|uint64(crc32.ChecksumIEEE([]byte(id)))),
		SecretKey: id + "/secret/" + strings.Repeat("0", 24)}
	if err := s.Meta.CreateAccount(ctx, metaclient.Account{ID: a.ID, Name: a.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.Meta.CreateAccessKey(ctx, metaclient.AccessKey{ID: a.AccessKey, Account: a.ID, Secret: a.SecretKey}); err != nil {
		t.Fatal(err)
	}
	return a
}
