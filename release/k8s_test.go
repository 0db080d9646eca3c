package release

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/rwproxy/rwproxy/config"
)

// rendered is what `kubectl kustomize DIR` produces, decoded strictly.
type rendered struct {
	deployment *appsv1.Deployment
	services   map[string]*corev1.Service
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	pdb        *policyv1.PodDisruptionBudget
	kinds      []string
}

// render builds dir with the kustomize library (kubectl kustomize's
// engine) and decodes every object into its k8s.io/api type; a field
// the type does not have fails the test (sigs.k8s.io/yaml strict mode).
func render(t *testing.T, dir string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	out := &rendered{services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{},
		secrets: map[string]*corev1.Secret{}}
	for _, res := range rm.Resources() {
		b, err := res.AsYAML()
		require.NoError(t, err)
		kind := res.GetKind()
		out.kinds = append(out.kinds, kind)
		strict := func(into any) {
			require.NoError(t, decodeStrict(b, into), "%s %s:\n%s", kind, res.GetName(), b)
		}
		switch kind {
		case "Deployment":
			require.Nil(t, out.deployment, "one Deployment")
			out.deployment = &appsv1.Deployment{}
			strict(out.deployment)
		case "Service":
			s := &corev1.Service{}
			strict(s)
			out.services[s.Name] = s
		case "ConfigMap":
			c := &corev1.ConfigMap{}
			strict(c)
			out.configMaps[c.Name] = c
		case "Secret":
			s := &corev1.Secret{}
			strict(s)
			out.secrets[s.Name] = s
		case "PodDisruptionBudget":
			out.pdb = &policyv1.PodDisruptionBudget{}
			strict(out.pdb)
		case "Namespace":
			strict(&corev1.Namespace{})
		default:
			t.Fatalf("unexpected kind %s (%s): add it to the strict decoder", kind, res.GetName())
		}
	}
	return out
}

// decodeStrict decodes a YAML object into its API type as the API server
// does in strict mode: a field the type lacks, a field whose case differs
// and a duplicate field are errors.
func decodeStrict(b []byte, into any) error {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, into)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func TestStrictDecodeRejectsUnknownFields(t *testing.T) {
	// the decoder the test relies on fails on a field the type lacks, and on
	// one spelled with another case
	good := []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {clusterIP: None}\n")
	var s corev1.Service
	require.NoError(t, decodeStrict(good, &s))
	require.Equal(t, "None", s.Spec.ClusterIP)
	require.ErrorContains(t, decodeStrict(bytes.Replace(good, []byte("clusterIP"), []byte("clusterIp"), 1), &s), "clusterIp")
	require.ErrorContains(t, decodeStrict(bytes.Replace(good, []byte("clusterIP"), []byte("clusterAddress"), 1), &s), "clusterAddress")
}

func TestKubernetesBaseRenders(t *testing.T) {
	r := render(t, filepath.Join("..", "deploy", "kubernetes", "base"))
	require.ElementsMatch(t, []string{"ConfigMap", "Service", "Service", "Deployment", "PodDisruptionBudget"}, r.kinds)
	require.Empty(t, r.secrets, "the base carries no secret values")
}

// TestKubernetesManifests renders deploy/kubernetes (the example overlay)
// and checks that it runs rwproxy the way rwproxy is configured: the
// configuration in the ConfigMap loads with the Deployment's environment,
// every RWPROXY_* variable is one rwproxy reads, and ports, probes, the
// gossip Service, the secrets and the shutdown timing agree with it.
func TestKubernetesManifests(t *testing.T) {
	r := render(t, filepath.Join("..", "deploy", "kubernetes"))
	require.ElementsMatch(t, []string{"Namespace", "ConfigMap", "Secret", "Service", "Service", "Deployment",
		"PodDisruptionBudget"}, r.kinds)
	d := r.deployment
	require.NotNil(t, d)
	require.NotNil(t, d.Spec.Replicas)
	require.EqualValues(t, 3, *d.Spec.Replicas)
	pod := d.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]

	// The configuration file: the ConfigMap mounted at the path in args.
	var cmName, mountPath string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name {
					mountPath = m.MountPath
					require.True(t, m.ReadOnly)
				}
			}
		}
	}
	cm := r.configMaps[cmName]
	require.NotNil(t, cm, "the config volume names a rendered ConfigMap (%s)", cmName)
	require.Equal(t, []string{"-config", mountPath + "/rwproxy.yaml"}, c.Args)
	file := filepath.Join(t.TempDir(), "rwproxy.yaml")
	require.NoError(t, os.WriteFile(file, []byte(cm.Data["rwproxy.yaml"]), 0o600))

	// The environment as the kubelet builds it: secret references
	// resolved, $(POD_IP) expanded.
	env := map[string]string{}
	podIP := "10.1.2.3"
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			require.Equal(t, "status.podIP", e.ValueFrom.FieldRef.FieldPath)
			env[e.Name] = podIP
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s := r.secrets[ref.Name]
			require.NotNil(t, s, "%s: Secret %s is rendered", e.Name, ref.Name)
			val, ok := s.Data[ref.Key]
			if !ok {
				var sok bool
				sv, sok := s.StringData[ref.Key]
				require.True(t, sok, "%s: Secret %s has key %s", e.Name, ref.Name, ref.Key)
				val = []byte(sv)
			}
			env[e.Name] = string(val)
		default:
			env[e.Name] = strings.ReplaceAll(e.Value, "$(POD_IP)", env["POD_IP"])
		}
	}
	for _, name := range []string{"RWPROXY_ADMIN_PASSWORD", "RWPROXY_MONITOR_PASSWORD", "RWPROXY_CLUSTER_SECRET",
		"RWPROXY_CLUSTER_ADVERTISE"} {
		require.Contains(t, env, name)
	}
	load := func(vars map[string]string) *config.Config {
		t.Helper()
		for _, e := range os.Environ() {
			if strings.HasPrefix(e, config.EnvPrefix+"_") {
				k, _, _ := strings.Cut(e, "=")
				t.Setenv(k, "")
				require.NoError(t, os.Unsetenv(k))
			}
		}
		for k, v := range vars {
			t.Setenv(k, v)
		}
		cfg, err := config.Load(file)
		require.NoError(t, err, "the ConfigMap's configuration with %v", vars)
		for k := range vars {
			require.NoError(t, os.Unsetenv(k))
		}
		return cfg
	}
	// Without the Secret's values the configuration is refused (gossip
	// off loopback needs cluster.secret; a non-loopback admin port needs a
	// password): the pod always has them, so they are the baseline.
	base := map[string]string{"RWPROXY_CLUSTER_SECRET": env["RWPROXY_CLUSTER_SECRET"],
		"RWPROXY_ADMIN_PASSWORD": env["RWPROXY_ADMIN_PASSWORD"]}
	bare := load(base)
	cfg := load(env)
	// Every RWPROXY_* variable the pod gets changes rwproxy's configuration:
	// it is the name of a real key.
	for k, v := range env {
		if !strings.HasPrefix(k, config.EnvPrefix+"_") {
			continue
		}
		alt := v + "-changed" // differs from the default even if v does not
		if strings.Contains(v, ":") {
			alt = "192.0.2.1:7946"
		}
		vars := maps.Clone(base)
		vars[k] = alt
		one := load(vars)
		require.False(t, reflect.DeepEqual(bare, one), "%s is not a variable rwproxy reads", k)
	}
	require.Equal(t, env["RWPROXY_ADMIN_PASSWORD"], cfg.Admin.Password)
	require.Equal(t, env["RWPROXY_MONITOR_PASSWORD"], cfg.Monitor.Password)
	require.Equal(t, env["RWPROXY_CLUSTER_SECRET"], cfg.Cluster.Secret)
	require.NotEmpty(t, cfg.Cluster.Secret, "gossip is encrypted")
	require.True(t, cfg.Cluster.Enabled)

	// Ports: the container's named ports are the configured listeners.
	port := func(addr string) int32 {
		_, p, ok := strings.Cut(addr, ":")
		require.True(t, ok, addr)
		n, err := strconv.Atoi(p)
		require.NoError(t, err)
		return int32(n)
	}
	ports := map[string]corev1.ContainerPort{}
	for _, p := range c.Ports {
		ports[p.Name] = p
	}
	require.Equal(t, port(cfg.Listen), ports["mysql"].ContainerPort)
	require.Equal(t, port(cfg.HTTP.Listen), ports["http"].ContainerPort)
	require.Equal(t, port(cfg.Cluster.Bind), ports["gossip-tcp"].ContainerPort)
	require.Equal(t, port(cfg.Cluster.Bind), ports["gossip-udp"].ContainerPort)
	require.Equal(t, corev1.ProtocolUDP, ports["gossip-udp"].Protocol)
	require.Equal(t, podIP+":"+strconv.Itoa(int(port(cfg.Cluster.Bind))), cfg.Cluster.Advertise)
	for _, l := range []string{cfg.Listen, cfg.HTTP.Listen, cfg.Cluster.Bind} {
		require.True(t, strings.HasPrefix(l, "0.0.0.0:"), "%s listens on the pod's interfaces", l)
	}

	// Probes on the HTTP listener's endpoints.
	require.NotNil(t, c.ReadinessProbe)
	require.NotNil(t, c.LivenessProbe)
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "http", c.ReadinessProbe.HTTPGet.Port.String())
	require.Equal(t, "http", c.LivenessProbe.HTTPGet.Port.String())

	// Gossip: cluster.join names the headless Service on its port.
	require.Len(t, cfg.Cluster.Join, 1)
	host, jport, _ := strings.Cut(cfg.Cluster.Join[0], ":")
	g := r.services[host]
	require.NotNil(t, g, "cluster.join names a rendered Service (%s)", host)
	require.Equal(t, corev1.ClusterIPNone, g.Spec.ClusterIP)
	require.True(t, g.Spec.PublishNotReadyAddresses, "pods find each other before they are ready")
	require.Equal(t, d.Spec.Template.Labels["app.kubernetes.io/name"], g.Spec.Selector["app.kubernetes.io/name"])
	for _, sp := range g.Spec.Ports {
		require.Equal(t, jport, strconv.Itoa(int(sp.Port)))
		require.Equal(t, sp.Protocol, ports[sp.TargetPort.String()].Protocol, sp.Name)
	}
	// The client Service sends 6033 to the mysql port.
	client := r.services["rwproxy"]
	require.NotNil(t, client)
	require.NotEqual(t, corev1.ClusterIPNone, client.Spec.ClusterIP)
	var mysql *corev1.ServicePort
	for i := range client.Spec.Ports {
		if client.Spec.Ports[i].Name == "mysql" {
			mysql = &client.Spec.Ports[i]
		}
	}
	require.NotNil(t, mysql)
	require.Equal(t, "mysql", mysql.TargetPort.String())

	// Stopping: preStop pause, then SIGTERM drains for shutdown_timeout, all
	// inside the grace period.
	require.NotNil(t, c.Lifecycle)
	require.NotNil(t, c.Lifecycle.PreStop)
	require.NotNil(t, c.Lifecycle.PreStop.Sleep)
	pause := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	require.NotNil(t, pod.TerminationGracePeriodSeconds)
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	require.GreaterOrEqual(t, grace, pause+cfg.ShutdownTimeout+5*time.Second,
		"terminationGracePeriodSeconds covers preStop %s + shutdown_timeout %s", pause, cfg.ShutdownTimeout)

	// Non-root, read-only root filesystem, no privileges.
	require.NotNil(t, pod.SecurityContext)
	require.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.NotZero(t, *pod.SecurityContext.RunAsUser)
	sc := c.SecurityContext
	require.NotNil(t, sc)
	require.True(t, *sc.ReadOnlyRootFilesystem)
	require.False(t, *sc.AllowPrivilegeEscalation)
	require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	// admin.datadir is a writable volume (the root filesystem is not).
	var dataMounted bool
	for _, m := range c.VolumeMounts {
		dataMounted = dataMounted || (m.MountPath == cfg.Admin.Datadir && !m.ReadOnly)
	}
	require.True(t, dataMounted, "admin.datadir %s is a writable volume", cfg.Admin.Datadir)
	require.False(t, c.Resources.Requests.Cpu().IsZero())
	require.False(t, c.Resources.Requests.Memory().IsZero())

	// The disruption budget covers these pods.
	require.NotNil(t, r.pdb)
	require.Equal(t, d.Spec.Selector.MatchLabels, r.pdb.Spec.Selector.MatchLabels)
	require.NotNil(t, r.pdb.Spec.MaxUnavailable)
	require.Equal(t, 1, r.pdb.Spec.MaxUnavailable.IntValue())
}
