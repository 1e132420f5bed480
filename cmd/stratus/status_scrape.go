package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	objclient "stratus/objectd/client"
)

// scrapeNode fetches a node's metrics page.
func scrapeNode(ctx context.Context, hc *http.Client, addr string) (nodeMetrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+objclient.PathMetrics, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	return parseNodeMetrics(io.LimitReader(resp.Body, 16<<20))
}

// nodeMetrics holds the series of the Prometheus text format that status reads, by name.
type nodeMetrics map[string][]metricSeries

type metricSeries struct {
	device string // the device label, or ""
	value  float64
}

// parseNodeMetrics reads the text exposition format: "name{labels} value" lines. Only the
// device label matters here; its values are plain device names, never quoted quotes.
func parseNodeMetrics(r io.Reader) (nodeMetrics, error) {
	m := nodeMetrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || !strings.HasPrefix(line, "stratus_objectd_") {
			continue
		}
		var name, labels, rest string
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			name, labels, rest = line[:i], line[i+1:j], line[j+1:]
		} else {
			var ok bool
			if name, rest, ok = strings.Cut(line, " "); !ok {
				continue
			}
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		dev := ""
		if _, after, ok := strings.Cut(labels, `device="`); ok {
			dev, _, _ = strings.Cut(after, `"`)
		}
		m[name] = append(m[name], metricSeries{dev, v})
	}
	return m, sc.Err()
}

func (m nodeMetrics) series(name string) []metricSeries { return m[name] }

// value returns the series of name whose device label is device ("" for none), or 0.
func (m nodeMetrics) value(name, device string) float64 {
	for _, s := range m[name] {
		if s.device == device {
			return s.value
		}
	}
	return 0
}
