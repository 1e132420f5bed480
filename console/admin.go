package console

import (
	"net/http"
	"sort"
)

func (s *Server) adminRoutes() {
	s.mux.HandleFunc("GET /api/admin/status", s.adminOnly(s.adminStatus))
	s.mux.HandleFunc("GET /api/admin/users", s.adminOnly(s.adminUsers))
	s.mux.HandleFunc("POST /api/admin/users", s.adminOnly(s.adminCreateUser))
	s.mux.HandleFunc("POST /api/admin/users/{account}/keys", s.adminOnly(s.adminCreateKey))
	s.mux.HandleFunc("DELETE /api/admin/keys/{id}", s.adminOnly(s.adminRevokeKey))
}

func (s *Server) adminStatus(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	st, err := s.cfg.Admin.Status(ctx)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	users, err := s.cfg.Admin.Users(ctx)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	if users == nil {
		users = []User{}
	}
	sort.Slice(users, func(i, j int) bool { return users[i].Account < users[j].Account })
	writeJSON(w, http.StatusOK, users)
}

func (s *Server) adminCreateUser(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct {
		Name string `json:"name"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Name == "" {
		writeError(w, http.StatusBadRequest, "name the account")
		return
	}
	ctx, cancel := s.callCtx(r)
	defer cancel()
	k, err := s.cfg.Admin.CreateUser(ctx, req.Name)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, k)
}

func (s *Server) adminCreateKey(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	k, err := s.cfg.Admin.CreateKey(ctx, r.PathValue("account"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, k)
}

func (s *Server) adminRevokeKey(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	if err := s.cfg.Admin.RevokeKey(ctx, r.PathValue("id")); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
