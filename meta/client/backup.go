package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// defaultStreamTimeout bounds Backup and Restore when ctx has no deadline.
const defaultStreamTimeout = 30 * time.Minute

func streamCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultStreamTimeout)
}

func errorFrom(resp *http.Response) error {
	var er ErrorResponse
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(data, &er); err != nil || er.Code == "" {
		return fmt.Errorf("http %d: %w", resp.StatusCode, ErrUnavailable)
	}
	return &ServerError{Code: er.Code, Message: er.Message, Leader: er.Leader}
}

// Backup streams a consistent snapshot of the catalog from the first endpoint to w and
// returns its size. The snapshot is taken by the node it asks; it holds every write that node
// had applied, so ask the leader (see Status) for the latest state. No retries: a failed
// backup is simply run again.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	ctx, cancel := streamCtx(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(c.endpoint(), PathSnapshot), nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", transportError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("backup: %w", errorFrom(resp))
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("backup: read snapshot: %w", err)
	}
	return n, nil
}

// Restore replaces the whole catalog with a snapshot made by Backup (size bytes from r). It
// must reach the leader, which installs it and then brings the followers along. Use it to
// recover a cluster, never on one in service: writes since the backup are lost.
func (c *Client) Restore(ctx context.Context, r io.Reader, size int64) error {
	ctx, cancel := streamCtx(ctx)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return fmt.Errorf("restore: find leader: %w", err)
	}
	if st.LeaderAddr == "" {
		return fmt.Errorf("restore: %w", ErrNoLeader)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(st.LeaderAddr, PathRestore), r)
	if err != nil {
		return err
	}
	req.ContentLength = size
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("restore: %w", transportError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("restore: %w", errorFrom(resp))
	}
	return nil
}
