package console

import (
	"encoding/base64"
	"net/http"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

func (s *Server) ec2Routes() {
	s.mux.HandleFunc("GET /api/volumes", s.compute(s.listVolumes))
	s.mux.HandleFunc("POST /api/volumes", s.compute(s.createVolume))
	s.mux.HandleFunc("DELETE /api/volumes/{id}", s.compute(s.deleteVolume))
	s.mux.HandleFunc("POST /api/volumes/{id}/attach", s.compute(s.attachVolume))
	s.mux.HandleFunc("POST /api/volumes/{id}/detach", s.compute(s.detachVolume))
	s.mux.HandleFunc("POST /api/volumes/{id}/snapshot", s.compute(s.snapshotVolume))
	s.mux.HandleFunc("GET /api/snapshots", s.compute(s.listSnapshots))
	s.mux.HandleFunc("DELETE /api/snapshots/{id}", s.compute(s.deleteSnapshot))
	s.instanceRoutes()
}

// compute admits logged-in requests on a console with an EC2 endpoint.
func (s *Server) compute(h handlerFunc) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, sess *session) {
		if sess.clients.ec2 == nil {
			writeError(w, http.StatusNotFound, "this console has no EC2 endpoint (--ec2)")
			return
		}
		h(w, r, sess)
	})
}

type attachmentItem struct {
	InstanceID string `json:"instance_id"`
	Device     string `json:"device"`
	State      string `json:"state"`
}

type volumeItem struct {
	ID          string           `json:"id"`
	SizeGiB     int32            `json:"size_gib"`
	State       string           `json:"state"`
	Zone        string           `json:"zone"`
	SnapshotID  string           `json:"snapshot_id"`
	CreatedAt   time.Time        `json:"created_at"`
	Attachments []attachmentItem `json:"attachments"`
}

func (s *Server) listVolumes(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	items := []volumeItem{}
	p := ec2.NewDescribeVolumesPaginator(sess.clients.ec2, &ec2.DescribeVolumesInput{})
	for pages := 0; p.HasMorePages() && pages < 50; pages++ {
		out, err := p.NextPage(ctx)
		if err != nil {
			writeAPIError(w, err)
			return
		}
		for _, v := range out.Volumes {
			it := volumeItem{ID: aws.ToString(v.VolumeId), SizeGiB: aws.ToInt32(v.Size), State: string(v.State), Zone: aws.ToString(v.AvailabilityZone),
				SnapshotID: aws.ToString(v.SnapshotId), CreatedAt: aws.ToTime(v.CreateTime), Attachments: []attachmentItem{}}
			for _, a := range v.Attachments {
				it.Attachments = append(it.Attachments, attachmentItem{InstanceID: aws.ToString(a.InstanceId), Device: aws.ToString(a.Device), State: string(a.State)})
			}
			items = append(items, it)
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].CreatedAt.After(items[j].CreatedAt) })
	writeJSON(w, http.StatusOK, items)
}

func (s *Server) createVolume(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct {
		SizeGiB    int32  `json:"size_gib"`
		Zone       string `json:"zone"`
		SnapshotID string `json:"snapshot_id"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	in := &ec2.CreateVolumeInput{AvailabilityZone: aws.String(req.Zone)}
	if req.Zone == "" {
		in.AvailabilityZone = aws.String(s.cfg.Region + "a")
	}
	if req.SizeGiB > 0 {
		in.Size = aws.Int32(req.SizeGiB)
	}
	if req.SnapshotID != "" {
		in.SnapshotId = aws.String(req.SnapshotID)
	}
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := sess.clients.ec2.CreateVolume(ctx, in)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": aws.ToString(out.VolumeId)})
}

func (s *Server) deleteVolume(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	if _, err := sess.clients.ec2.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(r.PathValue("id"))}); err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) attachVolume(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct {
		InstanceID string `json:"instance_id"`
		Device     string `json:"device"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	ctx, cancel := s.callCtx(r)
	defer cancel()
	_, err := sess.clients.ec2.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(r.PathValue("id")),
		InstanceId: aws.String(req.InstanceID), Device: aws.String(req.Device)})
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) detachVolume(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	if _, err := sess.clients.ec2.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(r.PathValue("id"))}); err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) snapshotVolume(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct {
		Description string `json:"description"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := sess.clients.ec2.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(r.PathValue("id")), Description: aws.String(req.Description)})
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": aws.ToString(out.SnapshotId)})
}

type snapshotItem struct {
	ID          string    `json:"id"`
	VolumeID    string    `json:"volume_id"`
	SizeGiB     int32     `json:"size_gib"`
	State       string    `json:"state"`
	Progress    string    `json:"progress"`
	Description string    `json:"description"`
	StartedAt   time.Time `json:"started_at"`
}

func (s *Server) listSnapshots(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	items := []snapshotItem{}
	p := ec2.NewDescribeSnapshotsPaginator(sess.clients.ec2, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	for pages := 0; p.HasMorePages() && pages < 50; pages++ {
		out, err := p.NextPage(ctx)
		if err != nil {
			writeAPIError(w, err)
			return
		}
		for _, sn := range out.Snapshots {
			items = append(items, snapshotItem{ID: aws.ToString(sn.SnapshotId), VolumeID: aws.ToString(sn.VolumeId), SizeGiB: aws.ToInt32(sn.VolumeSize),
				State: string(sn.State), Progress: aws.ToString(sn.Progress), Description: aws.ToString(sn.Description), StartedAt: aws.ToTime(sn.StartTime)})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].StartedAt.After(items[j].StartedAt) })
	writeJSON(w, http.StatusOK, items)
}

func (s *Server) deleteSnapshot(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	if _, err := sess.clients.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(r.PathValue("id"))}); err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// decodeConsole turns GetConsoleOutput's base64 into text; what is not base64 is shown as
// it came.
func decodeConsole(out string) string {
	if b, err := base64.StdEncoding.DecodeString(out); err == nil {
		return string(b)
	}
	return out
}
