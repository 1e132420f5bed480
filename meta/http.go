package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"stratus/internal/pki"
	"stratus/meta/client"
)

// handler returns the node's HTTP API: the meta protocol, /healthz and optionally /metrics.
// Every route but /healthz checks its caller (see access.go) before it acts.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+client.PathApply, s.leaderOnly("apply", func(p pki.Peer, body reqBody) (serveFunc, error) {
		var req client.ApplyRequest
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		if err := mayWrite(p, req.Ops); err != nil {
			return nil, err
		}
		return func(ctx context.Context) (any, error) { return s.apply(ctx, req) }, nil
	}))
	mux.HandleFunc("POST "+client.PathApplyBatch, s.leaderOnly("apply_batch", func(p pki.Peer, body reqBody) (serveFunc, error) {
		var req client.ApplyBatchRequest
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		for _, r := range req.Requests {
			if err := mayWrite(p, r.Ops); err != nil {
				return nil, err
			}
		}
		return func(ctx context.Context) (any, error) { return s.applyBatch(ctx, req) }, nil
	}))
	mux.HandleFunc("POST "+client.PathJoin, s.leaderOnly("join", func(p pki.Peer, body reqBody) (serveFunc, error) {
		// Operators may change membership too: a dead voter cannot remove itself.
		if err := permit(p, "change the meta membership", pki.RoleAdmin); err != nil {
			return nil, err
		}
		var req client.JoinRequest
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		return func(context.Context) (any, error) { return struct{}{}, s.join(req) }, nil
	}))
	mux.HandleFunc("POST "+client.PathRemove, s.leaderOnly("remove", func(p pki.Peer, body reqBody) (serveFunc, error) {
		if err := permit(p, "change the meta membership", pki.RoleAdmin); err != nil {
			return nil, err
		}
		var req client.RemoveRequest
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		return func(context.Context) (any, error) { return struct{}{}, s.remove(req) }, nil
	}))
	mux.HandleFunc("POST "+client.PathGet, s.read("get", func(ctx context.Context, p pki.Peer, body reqBody) (bool, func() (any, error), error) {
		var req client.GetRequest
		if err := decode(body, &req); err != nil {
			return false, nil, err
		}
		if err := mayRead(p, req.Table); err != nil {
			return false, nil, err
		}
		return req.Stale, func() (any, error) { return s.get(req) }, nil
	}))
	mux.HandleFunc("POST "+client.PathList, s.read("list", func(ctx context.Context, p pki.Peer, body reqBody) (bool, func() (any, error), error) {
		var req client.ListRequest
		if err := decode(body, &req); err != nil {
			return false, nil, err
		}
		if err := mayRead(p, req.Table); err != nil {
			return false, nil, err
		}
		return req.Stale, func() (any, error) { return s.list(req) }, nil
	}))
	mux.HandleFunc("POST "+client.PathWatch, s.read("watch", func(ctx context.Context, p pki.Peer, body reqBody) (bool, func() (any, error), error) {
		var req client.WatchRequest
		if err := decode(body, &req); err != nil {
			return false, nil, err
		}
		if err := mayRead(p, req.Table); err != nil {
			return false, nil, err
		}
		return true, func() (any, error) { return s.watch(ctx, req) }, nil
	}))
	mux.HandleFunc("POST "+client.PathSecret, s.read("secret", func(ctx context.Context, p pki.Peer, body reqBody) (bool, func() (any, error), error) {
		if err := permit(p, "read secrets", secretReaders...); err != nil {
			return false, nil, err
		}
		var req client.SecretRequest
		if err := decode(body, &req); err != nil {
			return false, nil, err
		}
		if p.Role != pki.RoleMeta && !s.secrets.allow(p.Name, time.Now()) {
			s.m.secretReads.WithLabelValues(string(p.Role), "rate_limited").Inc()
			return false, nil, fmt.Errorf("%w: %s asks for secrets faster than %g a second", ErrTooManyRequests, p, s.secrets.rate)
		}
		return false, func() (any, error) { return s.secret(p, req) }, nil
	}))
	mux.HandleFunc("GET "+client.PathSnapshot, s.only("snapshot", "export the catalog", s.handleSnapshot, pki.RoleAdmin))
	mux.HandleFunc("POST "+client.PathRestore, s.only("restore", "replace the catalog", s.handleRestore, pki.RoleAdmin))
	mux.HandleFunc("GET "+client.PathStatus, s.only("status", "read the status", func(w http.ResponseWriter, r *http.Request) {
		s.reply(w, "status", s.status(), nil)
	}, pki.Roles...))
	mux.HandleFunc("GET "+client.PathHealth, func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.leaderAddr(); err != nil {
			s.reply(w, "health", nil, err)
			return
		}
		w.Write([]byte("ok\n"))
	})
	if s.cfg.Gatherer != nil {
		mux.Handle("GET /metrics", s.only("metrics", "read metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP, pki.Roles...))
	}
	// A caller without a valid certificate learns nothing, not even which routes exist.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != client.PathHealth {
			if _, err := s.peer(r); err != nil {
				s.reply(w, "api", nil, err)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// serveFunc serves a parsed, permitted request.
type serveFunc func(ctx context.Context) (any, error)

// only serves h to callers of the given roles (and meta).
func (s *Server) only(op, what string, h http.HandlerFunc, roles ...pki.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.peer(r)
		if err == nil {
			err = permit(p, what, roles...)
		}
		if err != nil {
			s.reply(w, op, nil, err)
			return
		}
		h(w, r)
	}
}

// reqBody is a request body and the form it came in.
type reqBody struct {
	data   []byte
	binary bool // client.ContentTypeBinary
}

// decode parses a request body in the form its Content-Type names.
func decode(body reqBody, v any) error {
	var err error
	if body.binary {
		err = client.DecodeBinary(body.data, v)
	} else {
		err = json.Unmarshal(body.data, v)
	}
	if err != nil {
		return fmt.Errorf("%w: decode request: %v", ErrBadRequest, err)
	}
	return nil
}

func (s *Server) readBody(r *http.Request) (reqBody, error) {
	body, err := client.ReadBody(r.Body, r.ContentLength)
	if err != nil {
		return reqBody{}, fmt.Errorf("%w: read request: %v", ErrBadRequest, err)
	}
	if len(body) > client.MaxBodyBytes {
		return reqBody{}, fmt.Errorf("%w: request body exceeds %d bytes", ErrValueTooLarge, client.MaxBodyBytes)
	}
	return reqBody{data: body, binary: !s.cfg.jsonOnly && r.Header.Get("Content-Type") == client.ContentTypeBinary}, nil
}

// acceptsBinary reports whether the caller reads binary replies (it says so in Accept).
func (s *Server) acceptsBinary(r *http.Request) bool {
	return !s.cfg.jsonOnly && strings.Contains(r.Header.Get("Accept"), client.ContentTypeBinary)
}

// leaderOnly checks a request's caller, parses and permits it, then serves it on the leader
// or forwards it there from a follower.
func (s *Server) leaderOnly(op string, parse func(p pki.Peer, body reqBody) (serveFunc, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.peer(r)
		if err != nil {
			s.reply(w, op, nil, err)
			return
		}
		body, err := s.readBody(r)
		if err != nil {
			s.reply(w, op, nil, err)
			return
		}
		serve, err := parse(p, body)
		if err != nil {
			s.reply(w, op, nil, err)
			return
		}
		if !s.isLeader() {
			s.forward(w, r, op, body)
			return
		}
		resp, err := serve(r.Context())
		s.replyAs(w, op, resp, err, s.acceptsBinary(r))
	}
}

// read serves a read locally if it is stale or this node leads (after linearizing), and
// forwards it to the leader otherwise.
func (s *Server) read(op string, parse func(ctx context.Context, p pki.Peer, body reqBody) (stale bool, serve func() (any, error), err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.peer(r)
		if err != nil {
			s.reply(w, op, nil, err)
			return
		}
		body, err := s.readBody(r)
		if err != nil {
			s.reply(w, op, nil, err)
			return
		}
		stale, serve, err := parse(r.Context(), p, body)
		if err != nil {
			s.reply(w, op, nil, err)
			return
		}
		if !stale {
			if !s.isLeader() {
				s.forward(w, r, op, body)
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ApplyTimeout)
			err := s.linearize(ctx)
			cancel()
			if err != nil {
				s.reply(w, op, nil, err)
				return
			}
		} else if _, err := s.leaderAddr(); errors.Is(err, ErrNotMember) {
			s.reply(w, op, nil, err)
			return
		}
		resp, err := serve()
		s.replyAs(w, op, resp, err, s.acceptsBinary(r))
	}
}

// forward relays a request to the leader and its reply back. A request that was already
// forwarded once is refused with a leader hint instead, so stale hints cannot loop.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, op string, body reqBody) {
	leader, err := s.leaderAddr()
	if err != nil {
		s.reply(w, op, nil, err)
		return
	}
	if r.Header.Get(client.HeaderForwarded) != "" || leader == s.addr {
		s.replyErr(w, op, leader, fmt.Errorf("%w: leader is %s", ErrNotLeader, leader))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ApplyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, s.scheme()+leader+r.URL.Path, bytes.NewReader(body.data))
	if err != nil {
		s.reply(w, op, nil, err)
		return
	}
	// The body goes as it came, and the reply in the form the caller accepts.
	if body.binary {
		req.Header.Set("Content-Type", client.ContentTypeBinary)
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.acceptsBinary(r) {
		req.Header.Set("Accept", r.Header.Get("Accept"))
	}
	req.Header.Set(client.HeaderForwarded, s.cfg.NodeID)
	resp, err := s.fwd.Do(req)
	if err != nil {
		s.replyErr(w, op, leader, fmt.Errorf("forward to leader %s: %w: %v", leader, ErrUnavailable, err))
		return
	}
	defer resp.Body.Close()
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	s.m.requests.WithLabelValues(op, "forwarded").Inc()
}

// reply writes v as JSON, or err as an ErrorResponse.
func (s *Server) reply(w http.ResponseWriter, op string, v any, err error) {
	s.replyAs(w, op, v, err, false)
}

// replyAs writes v, in the binary form if binary is set and v has one, or err as a JSON
// ErrorResponse (errors are rare and stay readable by every client).
func (s *Server) replyAs(w http.ResponseWriter, op string, v any, err error, binary bool) {
	if err != nil {
		s.replyErr(w, op, "", err)
		return
	}
	if binary && client.HasBinaryForm(v) {
		if data, err := client.EncodeBinary(v); err == nil {
			w.Header().Set("Content-Type", client.ContentTypeBinary)
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			s.m.requests.WithLabelValues(op, "ok").Inc()
			_, _ = w.Write(data)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	s.m.requests.WithLabelValues(op, "ok").Inc()
	_ = json.NewEncoder(w).Encode(v)
}

// replyErr writes err as an ErrorResponse naming the leader, if known.
func (s *Server) replyErr(w http.ResponseWriter, op, leader string, err error) {
	er := s.wireError(err, leader)
	if er.Code == client.CodeInternal {
		s.log.Error("request failed", "op", op, "err", err)
	}
	s.m.requests.WithLabelValues(op, er.Code).Inc()
	_, status := client.ErrorToWire(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(er)
}

// wireError converts err for the wire, adding the leader's address to leader errors.
func (s *Server) wireError(err error, leader string) *client.ErrorResponse {
	code, _ := client.ErrorToWire(err)
	if leader == "" && (code == client.CodeNotLeader || code == client.CodeNoLeader) {
		if a, _ := s.raft.LeaderWithID(); a != "" {
			leader = string(a)
		}
	}
	return &client.ErrorResponse{Code: code, Message: err.Error(), Leader: leader}
}
