package nbd

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"stratus/internal/testutil"
)

// BenchmarkRead4KiBQD32 measures 4 KiB random reads with 32 requests in flight over one
// connection, against the in-memory export: the server's own cost per request (parse,
// dispatch, reply, plus the client's share of the loopback). Structured replies, as QEMU
// negotiates them.
func BenchmarkRead4KiBQD32(b *testing.B) {
	for _, network := range []string{"tcp", "unix"} {
		b.Run(network, func(b *testing.B) { benchRead(b, network, 4096, 32) })
	}
}

// BenchmarkRead4KiBQD1 is the latency case: one request at a time.
func BenchmarkRead4KiBQD1(b *testing.B) {
	b.Run("tcp", func(b *testing.B) { benchRead(b, "tcp", 4096, 1) })
}

func benchRead(b *testing.B, network string, size, depth int) {
	const exportSize = 64 << 20
	mem := newMemExport(exportSize)
	mem.WriteAt(context.Background(), testutil.Payload(exportSize, 1), 0, false) // all data, no holes
	var ex staticExports
	ex.add("mem", mem, ExportInfo{MultiConn: true})
	ts := startServer(b, &ex, func(c *Config) { c.MaxInFlight = 64 })
	addr := ts.tcp
	if network == "unix" {
		addr = ts.sock
	}

	nc, err := net.Dial(network, addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	c := &testClient{t: b, nc: nc, br: bufio.NewReaderSize(nc, 256<<10), bw: bufio.NewWriterSize(nc, 64<<10)}
	var g [greetingLen]byte
	c.readFull(g[:])
	c.clientFlags(clientFixedNewstyle | clientNoZeroes)
	c.option(optStructuredReply, nil)
	c.expectReply(optStructuredReply, repAck)
	c.option(optGo, infoData("mem"))
	c.goInfo(optGo)

	window := make(chan struct{}, depth)
	errs := make(chan error, 1)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		// The sender: keep depth requests in flight, flushing only when the window is
		// full, as a queueing client (QEMU, fio) does.
		rng := rand.New(rand.NewPCG(1, 2))
		blocks := uint64(exportSize / size)
		var hdr [requestLen]byte
		for i := range b.N {
			select {
			case window <- struct{}{}:
			default:
				if err := c.bw.Flush(); err != nil {
					errs <- err
					return
				}
				window <- struct{}{}
			}
			r := request{typ: cmdRead, handle: uint64(i), offset: rng.Uint64N(blocks) * uint64(size), length: uint32(size)}
			c.bw.Write(appendRequest(hdr[:0], r))
		}
		errs <- c.bw.Flush()
	}()
	// The receiver: one data chunk per read.
	var h [structuredHeaderLen]byte
	data := make([]byte, 8+size)
	for range b.N {
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			b.Fatal(err)
		}
		if typ := binary.BigEndian.Uint16(h[6:]); typ != replyOffsetData || binary.BigEndian.Uint32(h[16:]) != uint32(8+size) {
			b.Fatalf("reply chunk type %d, length %d", typ, binary.BigEndian.Uint32(h[16:]))
		}
		if _, err := io.ReadFull(c.br, data); err != nil {
			b.Fatal(err)
		}
		<-window
	}
	b.StopTimer()
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "iops")
}
