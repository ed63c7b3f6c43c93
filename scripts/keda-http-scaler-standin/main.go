// A STAND-IN for the KEDA HTTP add-on's external scaler, for the live-cluster tests only.
//
// The add-on (github.com/kedacore/http-add-on) cannot be built here: the Go module proxy
// refuses its versions. Its scaler is a gRPC server speaking KEDA's documented
// external-scaler protocol (externalscaler.proto, in the KEDA module this file is built
// against: scripts/install-control-plane copies it into KEDA's source tree). This stand-in
// speaks the same protocol, for the `external-push` triggers iac writes
// (`interceptorRoute: NAME`):
//
//   - GetMetricSpec: the InterceptorRoute NAME in the ScaledObject's namespace is read from
//     the API server, as the add-on's scaler does; its target is
//     spec.scalingMetric.concurrency.targetValue (or .rate.targetValue). A missing route is
//     an error, as there.
//   - GetMetrics / IsActive / StreamIsActive: the pending requests of that route, which in the
//     add-on the interceptors count. Here a test sets them through a small control endpoint:
//     PUT http://CONTROL/pending/NAMESPACE/NAME with the count as the body.
//
// Nothing else is faked: KEDA's operator, the HPA controller and the Deployments are real.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

var interceptorRoutes = schema.GroupVersionResource{
	Group: "http.keda.sh", Version: "v1beta1", Resource: "interceptorroutes",
}

type scaler struct {
	pb.UnimplementedExternalScalerServer
	client   dynamic.Interface
	interval time.Duration

	mu      sync.Mutex
	pending map[string]int64 // "namespace/name" -> pending requests
}

func routeKey(ref *pb.ScaledObjectRef) (string, string, error) {
	name := ref.GetScalerMetadata()["interceptorRoute"]
	if name == "" {
		return "", "", fmt.Errorf("ScaledObject %s/%s: trigger metadata has no interceptorRoute", ref.GetNamespace(), ref.GetName())
	}
	return ref.GetNamespace(), name, nil
}

func (s *scaler) count(ref *pb.ScaledObjectRef) (int64, error) {
	ns, name, err := routeKey(ref)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[ns+"/"+name], nil
}

func (s *scaler) IsActive(_ context.Context, ref *pb.ScaledObjectRef) (*pb.IsActiveResponse, error) {
	n, err := s.count(ref)
	if err != nil {
		return nil, err
	}
	return &pb.IsActiveResponse{Result: n > 0}, nil
}

func (s *scaler) StreamIsActive(ref *pb.ScaledObjectRef, stream grpc.ServerStreamingServer[pb.IsActiveResponse]) error {
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	for {
		n, err := s.count(ref)
		if err != nil {
			return err
		}
		if err := stream.Send(&pb.IsActiveResponse{Result: n > 0}); err != nil {
			return err
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-ticker.C:
		}
	}
}

func (s *scaler) GetMetricSpec(ctx context.Context, ref *pb.ScaledObjectRef) (*pb.GetMetricSpecResponse, error) {
	ns, name, err := routeKey(ref)
	if err != nil {
		return nil, err
	}
	route, err := s.client.Resource(interceptorRoutes).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("InterceptorRoute %s/%s: %w", ns, name, err)
	}
	target, err := targetValue(route)
	if err != nil {
		return nil, fmt.Errorf("InterceptorRoute %s/%s: %w", ns, name, err)
	}
	return &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{
		{MetricName: name, TargetSize: int64(target), TargetSizeFloat: target},
	}}, nil
}

func targetValue(route *unstructured.Unstructured) (float64, error) {
	for _, metric := range []string{"concurrency", "rate"} {
		v, found, err := unstructured.NestedFieldNoCopy(route.Object, "spec", "scalingMetric", metric, "targetValue")
		if err != nil || !found {
			continue
		}
		switch t := v.(type) {
		case int64:
			return float64(t), nil
		case float64:
			return t, nil
		}
	}
	return 0, fmt.Errorf("no spec.scalingMetric.concurrency.targetValue or .rate.targetValue")
}

func (s *scaler) GetMetrics(_ context.Context, req *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	n, err := s.count(req.GetScaledObjectRef())
	if err != nil {
		return nil, err
	}
	return &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{
		{MetricName: req.GetMetricName(), MetricValue: n, MetricValueFloat: float64(n)},
	}}, nil
}

// control: PUT /pending/NAMESPACE/NAME (body: a count) sets a route's pending requests.
func (s *scaler) control(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/pending/"), "/")
	if r.Method != http.MethodPut || !strings.HasPrefix(r.URL.Path, "/pending/") || len(parts) != 2 {
		http.Error(w, "use PUT /pending/NAMESPACE/NAME with a count as the body", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	n, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
	if err != nil || n < 0 {
		http.Error(w, "the body must be a count >= 0", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.pending[parts[0]+"/"+parts[1]] = n
	s.mu.Unlock()
	log.Printf("pending %s/%s = %d", parts[0], parts[1], n)
	w.WriteHeader(http.StatusNoContent)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9090", "gRPC address (the trigger's scalerAddress resolves here)")
	controlAddr := flag.String("control", "127.0.0.1:0", "address of the control endpoint for tests")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	interval := flag.Duration("stream-interval", 200*time.Millisecond, "StreamIsActive push interval (the add-on's default)")
	flag.Parse()

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("kubeconfig: %v", err)
	}
	s := &scaler{client: dynamic.NewForConfigOrDie(config), interval: *interval, pending: map[string]int64{}}

	grpcListener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen %s: %v", *listen, err)
	}
	controlListener, err := net.Listen("tcp", *controlAddr)
	if err != nil {
		log.Fatalf("listen %s: %v", *controlAddr, err)
	}
	// The fixture reads this line to learn the control port.
	fmt.Printf("control http://%s\n", controlListener.Addr())
	go func() { log.Fatal(http.Serve(controlListener, http.HandlerFunc(s.control))) }()

	server := grpc.NewServer()
	pb.RegisterExternalScalerServer(server, s)
	log.Printf("stand-in HTTP add-on scaler on %s", grpcListener.Addr())
	log.Fatal(server.Serve(grpcListener))
}
