package nbd

import (
	"fmt"
	"time"
)

// Config configures a Server. The zero value of a field is not its default: start from
// DefaultConfig.
type Config struct {
	// MaxBlockBytes is the largest READ or WRITE the server accepts, advertised to clients
	// as the maximum block size. Larger requests fail with EINVAL; a larger WRITE has its
	// payload read and dropped if it is under 32 MiB (the size the protocol says is never a
	// denial of service), and closes the connection otherwise. It bounds the memory one
	// request can pin; clients split their I/O to fit it.
	MaxBlockBytes uint32 `json:"max_block_bytes"`
	// MaxInFlight is how many requests of one connection are handled at once. Past it the
	// server stops reading the connection until a reply goes out. More lets a deep client
	// queue reach a slow backend (QEMU keeps up to 16 in flight); each costs a goroutine.
	MaxInFlight int `json:"max_in_flight"`
	// MaxInFlightBytes bounds the payload buffers (write data received, read data to send)
	// held by one connection's requests in flight. With MaxInFlight it bounds a
	// connection's memory. It must be at least MaxBlockBytes.
	MaxInFlightBytes int64 `json:"max_in_flight_bytes"`
	// MaxConnections caps the connections served at once, over all listeners; a connection
	// past it is closed on accept. Zero means no cap.
	MaxConnections int `json:"max_connections"`
	// RequestTimeout bounds each call to an Export. A call past it fails (EIO) and the
	// client sees the error; too short fails requests that are slow but would finish.
	RequestTimeout time.Duration `json:"request_timeout"`
	// HandshakeTimeout bounds option negotiation, from accept to the start of
	// transmission, so clients that connect and say nothing do not pin connections.
	HandshakeTimeout time.Duration `json:"handshake_timeout"`
	// ShutdownTimeout bounds how long Serve waits, once its ctx ends, for requests in
	// flight to finish before it cancels them and closes their connections.
	ShutdownTimeout time.Duration `json:"shutdown_timeout"`
}

// DefaultConfig returns the defaults: 32 MiB requests, 64 in flight per connection within
// 64 MiB of payload, 30 s per backend call.
func DefaultConfig() Config {
	return Config{
		MaxBlockBytes:    32 << 20,
		MaxInFlight:      64,
		MaxInFlightBytes: 64 << 20,
		MaxConnections:   1024,
		RequestTimeout:   30 * time.Second,
		HandshakeTimeout: 10 * time.Second,
		ShutdownTimeout:  10 * time.Second,
	}
}

// Limits on Config values.
const (
	minMaxBlockBytes = 64 << 10
	maxMaxBlockBytes = 1 << 30
	maxMaxInFlight   = 4096
)

// Validate reports the first field that is out of bounds.
func (c *Config) Validate() error {
	switch {
	case c.MaxBlockBytes < minMaxBlockBytes || c.MaxBlockBytes > maxMaxBlockBytes:
		return fmt.Errorf("max_block_bytes (%d) must be between %d and %d", c.MaxBlockBytes, minMaxBlockBytes, maxMaxBlockBytes)
	case c.MaxBlockBytes%(64<<10) != 0:
		// A multiple of the largest minimum block size, as the protocol requires.
		return fmt.Errorf("max_block_bytes (%d) must be a multiple of 65536", c.MaxBlockBytes)
	case c.MaxInFlight < 1 || c.MaxInFlight > maxMaxInFlight:
		return fmt.Errorf("max_in_flight (%d) must be between 1 and %d", c.MaxInFlight, maxMaxInFlight)
	case c.MaxInFlightBytes < int64(c.MaxBlockBytes):
		return fmt.Errorf("max_in_flight_bytes (%d) must be at least max_block_bytes (%d)", c.MaxInFlightBytes, c.MaxBlockBytes)
	case c.MaxConnections < 0:
		return fmt.Errorf("max_connections (%d) must not be negative", c.MaxConnections)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("request_timeout (%v) must be positive", c.RequestTimeout)
	case c.HandshakeTimeout <= 0:
		return fmt.Errorf("handshake_timeout (%v) must be positive", c.HandshakeTimeout)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("shutdown_timeout (%v) must be positive", c.ShutdownTimeout)
	}
	return nil
}
