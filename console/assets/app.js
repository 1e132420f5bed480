// Stratus console: a page per hash route, built from the console's JSON API. No framework:
// h() makes elements, api() calls the server with the session's CSRF token.
"use strict";

const state = { session: null };
const main = document.getElementById("main");
const msg = document.getElementById("msg");

// h makes an element: attrs are properties or attributes ("on…" are listeners), children
// are nodes or strings.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

let fieldSeq = 0;
// field is a labelled control: every input gets a <label for>.
function field(label, control, cls) {
  if (!control.id) control.id = "f" + (++fieldSeq);
  return h("div", { class: "field" + (cls ? " " + cls : "") }, h("label", { for: control.id }, label), control);
}
function checkField(label, control) {
  if (!control.id) control.id = "f" + (++fieldSeq);
  return h("div", { class: "field check" }, control, h("label", { for: control.id }, label));
}

function say(text, ok) { msg.className = ok ? "ok" : ""; msg.textContent = text || ""; }

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (state.session && method !== "GET") opts.headers["X-CSRF-Token"] = state.session.csrf;
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const resp = await fetch(path, opts);
  let data = null;
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  if (resp.status === 401 && path !== "/api/login") { state.session = null; showLogin(data && data.error); throw new Error(data ? data.error : "logged out"); }
  if (!resp.ok) throw new Error((data && data.error) || resp.status + " " + resp.statusText);
  return data;
}

// act runs a user action, showing its error (the API's message) or its success.
async function act(fn, okText) {
  try { const r = await fn(); if (okText) say(okText, true); return r; }
  catch (e) { say(e.message); return undefined; }
}

function enc(s) { return encodeURIComponent(s); }
function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
function when(t) { return t && !t.startsWith("0001") ? new Date(t).toLocaleString() : ""; }
function table(headers, rows) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, headers.map(x => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "None.")))));
}
function row(headers, cells) { return h("tr", {}, cells.map((c, i) => h("td", { "data-label": headers[i], class: headers[i] === "Actions" ? "actions" : null }, c))); }
function page(title, ...children) {
  main.replaceChildren(h("h1", { tabindex: "-1" }, title), ...children);
  main.querySelector("h1").focus();
}

// ---- login ----

function showLogin(reason) {
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  const key = h("input", { type: "text", id: "login-access", name: "access_key", autocomplete: "username", required: true });
  const secret = h("input", { type: "password", id: "login-secret", name: "secret_key", autocomplete: "current-password", required: true });
  const form = h("form", { id: "login-form", onsubmit: async e => {
    e.preventDefault();
    const s = await act(() => api("POST", "/api/login", { access_key: key.value, secret_key: secret.value }));
    if (s) { secret.value = ""; loggedIn(s); }
  } }, field("Access key", key), field("Secret key", secret), h("button", { type: "submit" }, "Log in"));
  main.replaceChildren(h("section", { class: "card login" }, h("h1", {}, "Log in to Stratus"), form));
  if (reason) say(reason);
  key.focus();
}

function loggedIn(s) {
  state.session = s;
  document.getElementById("nav").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("who").textContent = s.account + (s.admin ? " (admin)" : "");
  for (const li of document.querySelectorAll("nav .compute")) li.hidden = !s.compute;
  for (const li of document.querySelectorAll("nav .admin")) li.hidden = !s.admin;
  say("");
  if (!location.hash || location.hash === "#/") location.hash = "#/buckets"; else route();
}

document.getElementById("logout").addEventListener("click", async () => {
  await act(() => api("POST", "/api/logout"));
  state.session = null;
  location.hash = "";
  showLogin("Logged out.");
});

// ---- routing ----

const routes = [
  [/^#\/buckets$/, showBuckets],
  [/^#\/b\/([^?]+)(?:\?(.*))?$/, (m) => showBucket(decodeURIComponent(m[1]), new URLSearchParams(m[2] || ""))],
  [/^#\/overview$/, showOverview],
  [/^#\/volumes$/, showVolumes],
  [/^#\/instances$/, showInstances],
  [/^#\/images$/, showImages],
  [/^#\/users$/, showUsers],
];

function route() {
  if (!state.session) return;
  const hash = location.hash || "#/buckets";
  for (const a of document.querySelectorAll("nav a")) {
    const cur = hash === a.getAttribute("href") || (a.getAttribute("href") === "#/buckets" && hash.startsWith("#/b/"));
    if (cur) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  say("");
  for (const [re, fn] of routes) {
    const m = hash.match(re);
    if (m) { fn(m); return; }
  }
  location.hash = "#/buckets";
}
window.addEventListener("hashchange", route);

// ---- buckets ----

async function showBuckets() {
  const name = h("input", { type: "text", id: "bucket-name", required: true, pattern: "[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]" });
  const create = h("form", { class: "inline", id: "create-bucket", onsubmit: async e => {
    e.preventDefault();
    if (await act(() => api("POST", "/api/buckets", { name: name.value }), "Bucket " + name.value + " created.")) { name.value = ""; refresh(); }
  } }, field("New bucket name", name), h("button", { type: "submit" }, "Create bucket"));
  const list = h("div", {});
  page("Buckets", h("section", { class: "card" }, h("h2", {}, "Create a bucket"), create), list);
  async function refresh() {
    const bs = await act(() => api("GET", "/api/buckets"));
    if (!bs) return;
    const hd = ["Bucket", "Created", "Actions"];
    list.replaceChildren(table(hd, bs.map(b => row(hd, [
      h("a", { href: "#/b/" + enc(b.name) }, b.name), when(b.created_at),
      h("button", { type: "button", class: "danger", "aria-label": "Delete bucket " + b.name, onclick: async () => {
        if (!confirm("Delete bucket " + b.name + "? It must be empty.")) return;
        if (await act(() => api("DELETE", "/api/buckets/" + enc(b.name)), "Bucket " + b.name + " deleted.")) refresh();
      } }, "Delete")]))));
  }
  refresh();
}

function bucketHash(bucket, prefix) { return "#/b/" + enc(bucket) + (prefix ? "?prefix=" + enc(prefix) : ""); }

async function showBucket(bucket, params) {
  const prefix = params.get("prefix") || "";
  const crumbs = h("nav", { class: "crumbs", "aria-label": "Folder" }, h("a", { href: "#/buckets" }, "Buckets"), " / ",
    h("a", { href: bucketHash(bucket, "") }, bucket));
  let acc = "";
  for (const part of prefix.split("/").filter(Boolean)) { acc += part + "/"; crumbs.append(" / ", h("a", { href: bucketHash(bucket, acc) }, part)); }

  // Upload: the file is the request body, streamed by the console to S3.
  const file = h("input", { type: "file", id: "upload-file" });
  const progress = h("progress", { id: "upload-progress", max: 100, value: 0 });
  const upload = h("form", { class: "inline", id: "upload-form", onsubmit: e => {
    e.preventDefault();
    const f = file.files[0];
    if (!f) { say("Choose a file to upload."); return; }
    const key = prefix + f.name;
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", "/api/buckets/" + enc(bucket) + "/upload?key=" + enc(key));
    xhr.setRequestHeader("X-CSRF-Token", state.session.csrf);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = ev => { if (ev.lengthComputable) progress.value = Math.round(ev.loaded / ev.total * 100); };
    xhr.onload = () => {
      let data = null; try { data = JSON.parse(xhr.responseText); } catch (err) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) { progress.value = 100; say("Uploaded " + key + " (" + bytes(f.size) + ").", true); listPage(""); }
      else say((data && data.error) || ("upload failed: " + xhr.status));
      submit.disabled = false;
    };
    xhr.onerror = () => { say("upload failed: the connection broke"); submit.disabled = false; };
    progress.value = 0; submit.disabled = true; say("");
    xhr.send(f);
  } }, field("File to upload", file), field("Upload progress", progress));
  const submit = h("button", { type: "submit" }, "Upload");
  upload.append(submit);

  // Versioning and policy.
  const versioning = h("input", { type: "checkbox", id: "versioning" });
  const vstatus = h("span", { class: "muted", id: "versioning-status" });
  versioning.addEventListener("change", async () => {
    const r = await act(() => api("PUT", "/api/buckets/" + enc(bucket) + "/versioning", { enabled: versioning.checked }), "Versioning " + (versioning.checked ? "enabled." : "suspended."));
    if (r) vstatus.textContent = r.status; else versioning.checked = !versioning.checked;
  });
  const policy = h("textarea", { id: "policy", spellcheck: false });
  const policyForm = h("form", { id: "policy-form", onsubmit: async e => {
    e.preventDefault();
    await act(() => api("PUT", "/api/buckets/" + enc(bucket) + "/policy", { policy: policy.value }), "Policy saved.");
  } }, field("Bucket policy (JSON)", policy),
    h("p", {}, h("button", { type: "submit" }, "Save policy"), " ",
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (await act(() => api("DELETE", "/api/buckets/" + enc(bucket) + "/policy"), "Policy deleted.")) policy.value = "";
      } }, "Delete policy")));

  const list = h("div", { id: "objects" });
  const pager = h("p", {});
  const share = h("div", { id: "share" });
  page("Bucket " + bucket, crumbs,
    h("section", { class: "card" }, h("h2", {}, "Upload to " + (prefix || "the top level")), upload),
    h("section", { class: "card" }, h("h2", {}, "Objects"), list, pager, share),
    h("section", { class: "card" }, h("h2", {}, "Settings"), checkField("Versioning", versioning), vstatus, policyForm));

  const tokens = [];
  async function listPage(token) {
    const p = await act(() => api("GET", "/api/buckets/" + enc(bucket) + "/objects?prefix=" + enc(prefix) + (token ? "&token=" + enc(token) : "")));
    if (!p) return;
    const hd = ["Name", "Size", "Modified", "Actions"];
    const rows = p.prefixes.map(pf => row(hd, [h("a", { href: bucketHash(bucket, pf) }, pf.slice(prefix.length)), "folder", "", ""]));
    for (const o of p.objects) {
      const name = o.key.slice(prefix.length);
      rows.push(row(hd, [name, bytes(o.size), when(o.last_modified), [
        h("a", { class: "button secondary", href: "/api/buckets/" + enc(bucket) + "/download?key=" + enc(o.key), download: name, "aria-label": "Download " + name }, "Download"),
        h("button", { type: "button", class: "secondary", "aria-label": "Share " + name, onclick: () => shareForm(o.key) }, "Share"),
        h("button", { type: "button", class: "danger", "aria-label": "Delete " + name, onclick: async () => {
          if (!confirm("Delete " + o.key + "?")) return;
          if (await act(() => api("DELETE", "/api/buckets/" + enc(bucket) + "/objects?key=" + enc(o.key)), "Deleted " + o.key + ".")) listPage(token);
        } }, "Delete")]]));
    }
    list.replaceChildren(table(hd, rows));
    pager.replaceChildren();
    if (token) pager.append(h("button", { type: "button", class: "secondary", onclick: () => { tokens.pop(); listPage(tokens[tokens.length - 1] || ""); } }, "Previous page"), " ");
    if (p.next_token) pager.append(h("button", { type: "button", class: "secondary", id: "next-page", onclick: () => { tokens.push(p.next_token); listPage(p.next_token); } }, "Next page"));
  }

  function shareForm(key) {
    const expiry = h("select", { id: "share-expiry" },
      [["3600", "1 hour"], ["86400", "1 day"], ["604800", "7 days"], ["300", "5 minutes"]].map(([v, t]) => h("option", { value: v }, t)));
    const out = h("input", { type: "text", id: "share-url", readOnly: true, size: 60 });
    share.replaceChildren(h("h2", {}, "Share " + key), h("form", { class: "inline", id: "share-form", onsubmit: async e => {
      e.preventDefault();
      const r = await act(() => api("POST", "/api/buckets/" + enc(bucket) + "/share", { key, expires_seconds: Number(expiry.value) }));
      if (r) { out.value = r.url; out.focus(); out.select(); say("Link valid until " + new Date(r.expires_at).toLocaleString() + ".", true); }
    } }, field("Link expires after", expiry), h("button", { type: "submit" }, "Make link")), field("Share link", out));
    expiry.focus();
  }

  listPage("");
  const v = await act(() => api("GET", "/api/buckets/" + enc(bucket) + "/versioning"));
  if (v) { versioning.checked = v.status === "Enabled"; vstatus.textContent = v.status; }
  const pol = await act(() => api("GET", "/api/buckets/" + enc(bucket) + "/policy"));
  if (pol) policy.value = pol.policy;
}

// ---- overview ----

// sparkline draws values as an SVG polyline, with its last value as text.
function sparkline(title, values, fmt) {
  const peak = Math.max(...values, 0);
  if (values.length === 1) values = [values[0], values[0]]; // one sample: a flat line
  const w = 300, hgt = 80, max = Math.max(peak, 1e-9);
  const pts = values.map((v, i) => (values.length < 2 ? 0 : i * w / (values.length - 1)).toFixed(1) + "," + (hgt - 4 - v / max * (hgt - 8)).toFixed(1)).join(" ");
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title + ": " + (values.length ? fmt(values[values.length - 1]) : "no data yet"));
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts);
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#0b57d0");
  line.setAttribute("stroke-width", "2");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(line);
  return h("div", { class: "chart" }, h("h3", {}, title), svg, h("p", { class: "muted" }, values.length ? "now " + fmt(values[values.length - 1]) + ", peak " + fmt(peak) : "no samples yet"));
}

async function showOverview() {
  const status = h("div", { id: "status" });
  const charts = h("div", { class: "charts", id: "charts" });
  page("Overview", h("section", { class: "card" }, h("h2", {}, "Traffic (last minutes)"), charts), status);
  const m = await act(() => api("GET", "/api/metrics"));
  if (m) {
    if (!m.sources || !m.sources.length) charts.replaceChildren(h("p", { class: "muted" }, "No metrics sources configured (--metrics)."));
    else {
      charts.replaceChildren(
        sparkline("Requests per second", m.points.map(p => p.requests_per_second), v => v.toFixed(1) + "/s"),
        sparkline("Mean latency", m.points.map(p => p.mean_latency_seconds * 1000), v => v.toFixed(1) + " ms"),
        sparkline("Bytes stored and served per second", m.points.map(p => p.bytes_per_second), v => bytes(v) + "/s"));
      if (m.failing.length) charts.append(h("ul", { class: "problems" }, m.failing.map(f => h("li", {}, "metrics unreachable: " + f))));
    }
  }
  if (!state.session.admin) { status.replaceChildren(h("p", { class: "muted" }, "Cluster health is shown to the admin account.")); return; }
  const st = await act(() => api("GET", "/api/admin/status"));
  if (!st) return;
  const hd = ["Storage node", "Up", "Devices"];
  const counts = c => ((c && c.by_state) || []).map(x => x.state + " " + x.count).join(", ") || "none";
  status.replaceChildren(h("section", { class: "card" }, h("h2", {}, "Cluster health"),
    h("p", {}, st.ok ? h("span", { class: "ok-badge" }, "Healthy") : h("span", { class: "bad-badge" }, (st.problems || []).length + " problem(s) need an operator")),
    h("ul", { class: "problems", id: "problems" }, (st.problems || []).map(p => h("li", {}, p.kind + " — " + p.subject + ": " + p.message))),
    h("p", {}, "Meta leader: " + ((st.meta && st.meta.leader_id) || "none") + ", term " + ((st.meta && st.meta.term) || 0) + ", voters " + ((st.meta && st.meta.voters) || []).length),
    h("h3", {}, "Storage nodes"),
    table(hd, (st.storage_nodes || []).map(n => row(hd, [n.addr, n.up ? "up" : "DOWN " + (n.error || ""), (n.devices || []).map(d => d.name).join(", ")]))),
    h("h3", {}, "Volumes and instances"),
    h("p", {}, "Volumes: " + counts(st.volumes) + ". Instances: " + counts(st.instances) + "."),
    h("p", { class: "muted" }, "Checked " + when(st.checked_at))));
}

// ---- volumes ----

async function showVolumes() {
  const size = h("input", { type: "number", id: "volume-size", min: 1, value: "1", required: true });
  const zone = h("input", { type: "text", id: "volume-zone", placeholder: "default zone" });
  const fromSnap = h("select", { id: "volume-snapshot" }, h("option", { value: "" }, "(empty volume)"));
  const create = h("form", { class: "inline", id: "create-volume", onsubmit: async e => {
    e.preventDefault();
    const r = await act(() => api("POST", "/api/volumes", { size_gib: Number(size.value), zone: zone.value, snapshot_id: fromSnap.value }));
    if (r) { say("Volume " + r.id + " created.", true); refresh(); }
  } }, field("Size (GiB)", size), field("Availability zone", zone), field("From snapshot", fromSnap), h("button", { type: "submit" }, "Create volume"));
  const vols = h("div", { id: "volumes" }), snaps = h("div", { id: "snapshots" }), attach = h("div", {});
  page("Volumes", h("section", { class: "card" }, h("h2", {}, "Create a volume"), create), attach,
    h("p", {}, h("button", { type: "button", class: "secondary", id: "refresh-volumes", onclick: () => refresh() }, "Refresh")), h("h2", {}, "Volumes"), vols, h("h2", {}, "Snapshots"), snaps);
  function attachForm(v) {
    const inst = h("input", { type: "text", id: "attach-instance", required: true });
    const dev = h("input", { type: "text", id: "attach-device", value: "/dev/sdf", required: true });
    attach.replaceChildren(h("section", { class: "card" }, h("h2", {}, "Attach " + v.id), h("form", { class: "inline", id: "attach-form", onsubmit: async e => {
      e.preventDefault();
      if (await act(() => api("POST", "/api/volumes/" + enc(v.id) + "/attach", { instance_id: inst.value, device: dev.value }), "Attaching " + v.id + ".")) { attach.replaceChildren(); refresh(); }
    } }, field("Instance ID", inst), field("Device", dev), h("button", { type: "submit" }, "Attach"))));
    inst.focus();
  }
  const pending = new Set(["creating", "attaching", "detaching", "deleting", "pending"]);
  async function refresh() {
    const [vs, ss] = await Promise.all([act(() => api("GET", "/api/volumes")), act(() => api("GET", "/api/snapshots"))]);
    // While something is changing state, look again shortly.
    const busy = (vs || []).some(v => pending.has(v.state) || v.attachments.some(a => pending.has(a.state))) || (ss || []).some(s => pending.has(s.state));
    if (busy) setTimeout(() => { if (location.hash === "#/volumes") refresh(); }, 1500);
    if (vs) {
      const hd = ["Volume", "Size", "State", "Attached to", "Actions"];
      vols.replaceChildren(table(hd, vs.map(v => row(hd, [v.id + (v.snapshot_id ? " (from " + v.snapshot_id + ")" : ""), v.size_gib + " GiB", v.state,
        v.attachments.map(a => a.instance_id + " " + a.device + " (" + a.state + ")").join(", "), [
          v.attachments.length
            ? h("button", { type: "button", class: "secondary", "aria-label": "Detach " + v.id, onclick: async () => { if (await act(() => api("POST", "/api/volumes/" + enc(v.id) + "/detach"), "Detaching " + v.id + ".")) refresh(); } }, "Detach")
            : h("button", { type: "button", class: "secondary", "aria-label": "Attach " + v.id, onclick: () => attachForm(v) }, "Attach"),
          h("button", { type: "button", class: "secondary", "aria-label": "Snapshot " + v.id, onclick: async () => {
            const r = await act(() => api("POST", "/api/volumes/" + enc(v.id) + "/snapshot", { description: "from console" }));
            if (r) { say("Snapshot " + r.id + " started.", true); refresh(); }
          } }, "Snapshot"),
          h("button", { type: "button", class: "danger", "aria-label": "Delete " + v.id, onclick: async () => {
            if (confirm("Delete volume " + v.id + "?") && await act(() => api("DELETE", "/api/volumes/" + enc(v.id)), "Volume " + v.id + " deleted.")) refresh();
          } }, "Delete")]]))));
    }
    if (ss) {
      fromSnap.replaceChildren(h("option", { value: "" }, "(empty volume)"), ...ss.map(s => h("option", { value: s.id }, s.id + " (" + s.size_gib + " GiB)")));
      const hd = ["Snapshot", "Volume", "Size", "State", "Actions"];
      snaps.replaceChildren(table(hd, ss.map(s => row(hd, [s.id, s.volume_id, s.size_gib + " GiB", s.state + (s.progress ? " " + s.progress : ""), [
        h("button", { type: "button", class: "secondary", "aria-label": "Create volume from " + s.id, onclick: () => { fromSnap.value = s.id; size.value = s.size_gib; size.focus(); } }, "Create volume from it"),
        h("button", { type: "button", class: "danger", "aria-label": "Delete " + s.id, onclick: async () => {
          if (confirm("Delete snapshot " + s.id + "?") && await act(() => api("DELETE", "/api/snapshots/" + enc(s.id)), "Snapshot " + s.id + " deleted.")) refresh();
        } }, "Delete")]]))));
    }
  }
  refresh();
}

// ---- instances ----

async function showInstances() {
  const image = h("select", { id: "launch-image", required: true });
  const type = h("select", { id: "launch-type" });
  const key = h("select", { id: "launch-key" }, h("option", { value: "" }, "(none)"));
  const extra = h("input", { type: "number", id: "launch-volume", min: 0, value: "0" });
  const launch = h("form", { class: "inline", id: "launch-form", onsubmit: async e => {
    e.preventDefault();
    const r = await act(() => api("POST", "/api/instances", { image_id: image.value, instance_type: type.value, key_name: key.value, extra_volume_gib: Number(extra.value) }));
    if (r) { say("Launched " + r.ids.join(", ") + ".", true); refresh(); }
  } }, field("Image", image), field("Instance type", type), field("Key pair", key), field("Extra volume (GiB, 0 for none)", extra), h("button", { type: "submit" }, "Launch"));
  const list = h("div", { id: "instances" });
  const out = h("div", { id: "console-output" });
  page("Instances", h("section", { class: "card" }, h("h2", {}, "Launch an instance"), launch), h("p", {}, h("button", { type: "button", class: "secondary", onclick: () => refresh() }, "Refresh")), list, out);
  const [ims, ts, ks] = await Promise.all([act(() => api("GET", "/api/images")), act(() => api("GET", "/api/instance-types")), act(() => api("GET", "/api/keypairs"))]);
  if (ims) image.replaceChildren(...ims.filter(i => !i.type || i.type === "machine").map(i => h("option", { value: i.id }, i.id + " " + i.name)));
  if (ts) type.replaceChildren(...ts.map(t => h("option", { value: t, selected: t === "t3.nano" }, t)));
  if (ks) key.append(...ks.map(k => h("option", { value: k.name }, k.name)));
  async function showConsole(id) {
    const r = await act(() => api("GET", "/api/instances/" + enc(id) + "/console"));
    if (!r) return;
    const pre = h("pre", { tabindex: "0", "aria-label": "Console output of " + id }, r.output || "(nothing yet)");
    out.replaceChildren(h("h2", { tabindex: "-1" }, "Console output of " + id), pre);
    out.querySelector("h2").focus();
    pre.scrollTop = pre.scrollHeight; // the newest lines
  }
  async function refresh() {
    const is = await act(() => api("GET", "/api/instances"));
    if (!is) return;
    if (is.some(i => ["pending", "stopping", "shutting-down"].includes(i.state))) setTimeout(() => { if (location.hash === "#/instances") refresh(); }, 1500);
    const hd = ["Instance", "Type", "Image", "State", "Actions"];
    const action = (i, a, label) => h("button", { type: "button", class: a === "terminate" ? "danger" : "secondary", "aria-label": label + " " + i.id, onclick: async () => {
      if (a === "terminate" && !confirm("Terminate " + i.id + "?")) return;
      if (await act(() => api("POST", "/api/instances/" + enc(i.id) + "/" + a), label + " " + i.id + ".")) refresh();
    } }, label);
    list.replaceChildren(table(hd, is.map(i => row(hd, [i.id, i.type, i.image_id, i.state, [
      i.state === "stopped" ? action(i, "start", "Start") : action(i, "stop", "Stop"),
      action(i, "terminate", "Terminate"),
      h("button", { type: "button", class: "secondary", "aria-label": "Console output of " + i.id, onclick: () => showConsole(i.id) }, "Console output")]]))));
  }
  refresh();
}

// ---- images and key pairs ----

async function showImages() {
  const name = h("input", { type: "text", id: "image-name", required: true });
  const loc = h("input", { type: "text", id: "image-location", placeholder: "bucket/key", required: true });
  const kernel = h("input", { type: "text", id: "image-kernel" });
  const ramdisk = h("input", { type: "text", id: "image-ramdisk" });
  const reg = h("form", { class: "inline", id: "register-image", onsubmit: async e => {
    e.preventDefault();
    const r = await act(() => api("POST", "/api/images", { name: name.value, location: loc.value, kernel_id: kernel.value, ramdisk_id: ramdisk.value }));
    if (r) { say("Registered " + r.id + ".", true); refresh(); }
  } }, field("Image name", name), field("Location (bucket/key)", loc), field("Kernel image ID (optional)", kernel), field("Ramdisk image ID (optional)", ramdisk), h("button", { type: "submit" }, "Register image"));
  const kname = h("input", { type: "text", id: "keypair-name", required: true });
  const secret = h("div", {});
  const mk = h("form", { class: "inline", id: "create-keypair", onsubmit: async e => {
    e.preventDefault();
    const r = await act(() => api("POST", "/api/keypairs", { name: kname.value }));
    if (r) {
      const pk = h("textarea", { id: "keypair-private", readOnly: true }, r.private_key);
      secret.replaceChildren(field("Private key of " + r.name + " (shown once: save it now)", pk));
      pk.focus(); refresh();
    }
  } }, field("Key pair name", kname), h("button", { type: "submit" }, "Create key pair"));
  const images = h("div", { id: "images" }), keys = h("div", { id: "keypairs" });
  page("Images and key pairs", h("section", { class: "card" }, h("h2", {}, "Register an image"), reg), images,
    h("section", { class: "card" }, h("h2", {}, "Create a key pair"), mk, secret), keys);
  async function refresh() {
    const [ims, ks] = await Promise.all([act(() => api("GET", "/api/images")), act(() => api("GET", "/api/keypairs"))]);
    if (ims) {
      const hd = ["Image", "Name", "Type", "Location", "State", "Actions"];
      images.replaceChildren(table(hd, ims.map(i => row(hd, [i.id, i.name, i.type, i.location, i.state,
        h("button", { type: "button", class: "danger", "aria-label": "Deregister " + i.id, onclick: async () => {
          if (confirm("Deregister " + i.id + "?") && await act(() => api("DELETE", "/api/images/" + enc(i.id)), "Deregistered " + i.id + ".")) refresh();
        } }, "Deregister")]))));
    }
    if (ks) {
      const hd = ["Key pair", "Fingerprint", "Actions"];
      keys.replaceChildren(table(hd, ks.map(k => row(hd, [k.name, k.fingerprint,
        h("button", { type: "button", class: "danger", "aria-label": "Delete key pair " + k.name, onclick: async () => {
          if (confirm("Delete key pair " + k.name + "?") && await act(() => api("DELETE", "/api/keypairs/" + enc(k.name)), "Deleted " + k.name + ".")) refresh();
        } }, "Delete")]))));
    }
  }
  refresh();
}

// ---- users (admin) ----

async function showUsers() {
  const name = h("input", { type: "text", id: "user-name", required: true });
  const secret = h("div", { id: "new-key" });
  const showKey = k => {
    const out = h("textarea", { id: "new-key-text", readOnly: true }, "account: " + k.account + "\naccess key: " + k.access_key + "\nsecret key: " + k.secret_key);
    secret.replaceChildren(field("New key (the secret is shown only now)", out));
    out.focus();
  };
  const create = h("form", { class: "inline", id: "create-user", onsubmit: async e => {
    e.preventDefault();
    const k = await act(() => api("POST", "/api/admin/users", { name: name.value }));
    if (k) { showKey(k); name.value = ""; refresh(); }
  } }, field("New account name", name), h("button", { type: "submit" }, "Create account"));
  const list = h("div", { id: "users" });
  page("Users and keys", h("section", { class: "card" }, h("h2", {}, "Create an account"), create, secret), list);
  async function refresh() {
    const us = await act(() => api("GET", "/api/admin/users"));
    if (!us) return;
    const hd = ["Account", "Access keys", "Actions"];
    list.replaceChildren(table(hd, us.map(u => row(hd, [u.account,
      h("ul", {}, u.keys.map(k => h("li", {}, k, " ", h("button", { type: "button", class: "danger", "aria-label": "Revoke " + k, onclick: async () => {
        if (confirm("Revoke " + k + "?") && await act(() => api("DELETE", "/api/admin/keys/" + enc(k)), "Revoked " + k + ".")) refresh();
      } }, "Revoke")))),
      h("button", { type: "button", class: "secondary", "aria-label": "New key for " + u.account, onclick: async () => {
        const k = await act(() => api("POST", "/api/admin/users/" + enc(u.account) + "/keys"));
        if (k) { showKey(k); refresh(); }
      } }, "New key")]))));
  }
  refresh();
}

// ---- start ----

(async () => {
  try {
    const resp = await fetch("/api/session", { credentials: "same-origin" });
    if (resp.ok) { loggedIn(await resp.json()); return; }
  } catch (e) { /* fall through to the login form */ }
  showLogin();
})();
