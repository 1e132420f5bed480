package console

import (
	"net/http"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func (s *Server) instanceRoutes() {
	s.mux.HandleFunc("GET /api/instances", s.compute(s.listInstances))
	s.mux.HandleFunc("POST /api/instances", s.compute(s.launchInstance))
	s.mux.HandleFunc("POST /api/instances/{id}/{action}", s.compute(s.instanceAction))
	s.mux.HandleFunc("GET /api/instances/{id}/console", s.compute(s.consoleOutput))
	s.mux.HandleFunc("GET /api/instance-types", s.compute(s.listInstanceTypes))
	s.mux.HandleFunc("GET /api/images", s.compute(s.listImages))
	s.mux.HandleFunc("POST /api/images", s.compute(s.registerImage))
	s.mux.HandleFunc("DELETE /api/images/{id}", s.compute(s.deregisterImage))
	s.mux.HandleFunc("GET /api/keypairs", s.compute(s.listKeyPairs))
	s.mux.HandleFunc("POST /api/keypairs", s.compute(s.createKeyPair))
	s.mux.HandleFunc("DELETE /api/keypairs/{name}", s.compute(s.deleteKeyPair))
}

type instanceItem struct {
	ID         string    `json:"id"`
	ImageID    string    `json:"image_id"`
	Type       string    `json:"type"`
	State      string    `json:"state"`
	KeyName    string    `json:"key_name"`
	PrivateIP  string    `json:"private_ip"`
	LaunchedAt time.Time `json:"launched_at"`
}

func (s *Server) listInstances(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	items := []instanceItem{}
	p := ec2.NewDescribeInstancesPaginator(sess.clients.ec2, &ec2.DescribeInstancesInput{})
	for pages := 0; p.HasMorePages() && pages < 50; pages++ {
		out, err := p.NextPage(ctx)
		if err != nil {
			writeAPIError(w, err)
			return
		}
		for _, res := range out.Reservations {
			for _, in := range res.Instances {
				it := instanceItem{ID: aws.ToString(in.InstanceId), ImageID: aws.ToString(in.ImageId), Type: string(in.InstanceType),
					KeyName: aws.ToString(in.KeyName), PrivateIP: aws.ToString(in.PrivateIpAddress), LaunchedAt: aws.ToTime(in.LaunchTime)}
				if in.State != nil {
					it.State = string(in.State.Name)
				}
				items = append(items, it)
			}
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].LaunchedAt.After(items[j].LaunchedAt) })
	writeJSON(w, http.StatusOK, items)
}

func (s *Server) launchInstance(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct {
		ImageID        string `json:"image_id"`
		InstanceType   string `json:"instance_type"`
		KeyName        string `json:"key_name"`
		ExtraVolumeGiB int32  `json:"extra_volume_gib"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	in := &ec2.RunInstancesInput{ImageId: aws.String(req.ImageID), InstanceType: types.InstanceType(req.InstanceType),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
	if req.KeyName != "" {
		in.KeyName = aws.String(req.KeyName)
	}
	if req.ExtraVolumeGiB > 0 {
		in.BlockDeviceMappings = []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sdb"),
			Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(req.ExtraVolumeGiB), DeleteOnTermination: aws.Bool(true)}}}
	}
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := sess.clients.ec2.RunInstances(ctx, in)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	ids := []string{}
	for _, i := range out.Instances {
		ids = append(ids, aws.ToString(i.InstanceId))
	}
	writeJSON(w, http.StatusCreated, map[string][]string{"ids": ids})
}

// instanceAction stops, starts or terminates an instance.
func (s *Server) instanceAction(w http.ResponseWriter, r *http.Request, sess *session) {
	id := []string{r.PathValue("id")}
	ctx, cancel := s.callCtx(r)
	defer cancel()
	var err error
	switch r.PathValue("action") {
	case "stop":
		_, err = sess.clients.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: id})
	case "start":
		_, err = sess.clients.ec2.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: id})
	case "terminate":
		_, err = sess.clients.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: id})
	default:
		writeError(w, http.StatusNotFound, "no instance action "+r.PathValue("action"))
		return
	}
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) consoleOutput(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := sess.clients.ec2.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(r.PathValue("id"))})
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"output": decodeConsole(aws.ToString(out.Output))})
}

func (s *Server) listInstanceTypes(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := sess.clients.ec2.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{})
	if err != nil {
		writeAPIError(w, err)
		return
	}
	names := []string{}
	for _, t := range out.InstanceTypes {
		names = append(names, string(t.InstanceType))
	}
	sort.Strings(names)
	writeJSON(w, http.StatusOK, names)
}

type imageItem struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Location string `json:"location"`
	State    string `json:"state"`
	Type     string `json:"type"`
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := sess.clients.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	if err != nil {
		writeAPIError(w, err)
		return
	}
	items := []imageItem{}
	for _, im := range out.Images {
		items = append(items, imageItem{ID: aws.ToString(im.ImageId), Name: aws.ToString(im.Name), Location: aws.ToString(im.ImageLocation),
			State: string(im.State), Type: string(im.ImageType)})
	}
	writeJSON(w, http.StatusOK, items)
}

func (s *Server) registerImage(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct {
		Name     string `json:"name"`
		Location string `json:"location"`
		KernelID string `json:"kernel_id"`
		Ramdisk  string `json:"ramdisk_id"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	in := &ec2.RegisterImageInput{Name: aws.String(req.Name), ImageLocation: aws.String(req.Location)}
	if req.KernelID != "" {
		in.KernelId = aws.String(req.KernelID)
	}
	if req.Ramdisk != "" {
		in.RamdiskId = aws.String(req.Ramdisk)
	}
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := sess.clients.ec2.RegisterImage(ctx, in)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": aws.ToString(out.ImageId)})
}

func (s *Server) deregisterImage(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	if _, err := sess.clients.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(r.PathValue("id"))}); err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) listKeyPairs(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := sess.clients.ec2.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if err != nil {
		writeAPIError(w, err)
		return
	}
	type item struct {
		Name        string `json:"name"`
		Fingerprint string `json:"fingerprint"`
	}
	items := []item{}
	for _, k := range out.KeyPairs {
		items = append(items, item{Name: aws.ToString(k.KeyName), Fingerprint: aws.ToString(k.KeyFingerprint)})
	}
	writeJSON(w, http.StatusOK, items)
}

// createKeyPair makes a key pair; its private key is in the answer, once.
func (s *Server) createKeyPair(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct {
		Name string `json:"name"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := sess.clients.ec2.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(req.Name)})
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": aws.ToString(out.KeyName), "private_key": aws.ToString(out.KeyMaterial)})
}

func (s *Server) deleteKeyPair(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	if _, err := sess.clients.ec2.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(r.PathValue("name"))}); err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
