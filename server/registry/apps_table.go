package registry

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The columns below are the ones kube-apiserver serves for kubectl get,
// with its names (kubectl prints them upper-cased), types and priorities
// (1: -o wide only). Rows fill every column, wide ones included, and accept
// a zero object. The NAME and AGE columns come from core.go's
// coreNameColumn and coreAgeColumn, shared by every group.

// printTemplateColumns are the wide CONTAINERS and IMAGES columns of a
// workload, filled by printTemplateCells.
func printTemplateColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
		{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
	}
}

// printTemplateCells returns the comma-separated container names and images of
// a pod template's containers (init containers excluded).
func printTemplateCells(spec *corev1.PodSpec) (names, images string) {
	n := make([]string, len(spec.Containers))
	im := make([]string, len(spec.Containers))
	for i, c := range spec.Containers {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

// printSelectorColumn is the wide SELECTOR column, filled by
// metav1.FormatLabelSelector ("<none>" when unset).
func printSelectorColumn(doc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Selector", Type: "string", Priority: 1, Description: doc}
}

// printDesiredReplicas returns *replicas, 0 when unset.
func printDesiredReplicas(replicas *int32) int32 {
	if replicas == nil {
		return 0
	}
	return *replicas
}

func deploymentColumns() []metav1.TableColumnDefinition {
	status := appsv1.DeploymentStatus{}.SwaggerDoc()
	cols := []metav1.TableColumnDefinition{
		coreNameColumn(),
		{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
		{Name: "Up-to-date", Type: "integer", Description: status["updatedReplicas"]},
		{Name: "Available", Type: "integer", Description: status["availableReplicas"]},
		coreAgeColumn(),
	}
	cols = append(cols, printTemplateColumns()...)
	return append(cols, printSelectorColumn(appsv1.DeploymentSpec{}.SwaggerDoc()["selector"]))
}

// deploymentRow: NAME, READY (ready/desired), UP-TO-DATE, AVAILABLE, AGE,
// CONTAINERS, IMAGES, SELECTOR.
func deploymentRow(d *appsv1.Deployment) []any {
	names, images := printTemplateCells(&d.Spec.Template.Spec)
	return []any{
		d.Name,
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, printDesiredReplicas(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		age(d.CreationTimestamp),
		names, images,
		metav1.FormatLabelSelector(d.Spec.Selector),
	}
}

func replicaSetColumns() []metav1.TableColumnDefinition {
	status := appsv1.ReplicaSetStatus{}.SwaggerDoc()
	cols := []metav1.TableColumnDefinition{
		coreNameColumn(),
		{Name: "Desired", Type: "integer", Description: appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]},
		{Name: "Current", Type: "integer", Description: status["replicas"]},
		{Name: "Ready", Type: "integer", Description: status["readyReplicas"]},
		coreAgeColumn(),
	}
	cols = append(cols, printTemplateColumns()...)
	return append(cols, printSelectorColumn(appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"]))
}

// replicaSetRow: NAME, DESIRED, CURRENT, READY, AGE, CONTAINERS, IMAGES,
// SELECTOR.
func replicaSetRow(rs *appsv1.ReplicaSet) []any {
	names, images := printTemplateCells(&rs.Spec.Template.Spec)
	return []any{
		rs.Name,
		int64(printDesiredReplicas(rs.Spec.Replicas)),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp),
		names, images,
		metav1.FormatLabelSelector(rs.Spec.Selector),
	}
}

func daemonSetColumns() []metav1.TableColumnDefinition {
	status := appsv1.DaemonSetStatus{}.SwaggerDoc()
	cols := []metav1.TableColumnDefinition{
		coreNameColumn(),
		{Name: "Desired", Type: "integer", Description: status["desiredNumberScheduled"]},
		{Name: "Current", Type: "integer", Description: status["currentNumberScheduled"]},
		{Name: "Ready", Type: "integer", Description: status["numberReady"]},
		{Name: "Up-to-date", Type: "integer", Description: status["updatedNumberScheduled"]},
		{Name: "Available", Type: "integer", Description: status["numberAvailable"]},
		{Name: "Node Selector", Type: "string", Description: corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]},
		coreAgeColumn(),
	}
	cols = append(cols, printTemplateColumns()...)
	return append(cols, printSelectorColumn(appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"]))
}

// daemonSetRow: NAME, DESIRED, CURRENT, READY, UP-TO-DATE, AVAILABLE, NODE
// SELECTOR ("<none>" when empty), AGE, CONTAINERS, IMAGES, SELECTOR.
func daemonSetRow(ds *appsv1.DaemonSet) []any {
	names, images := printTemplateCells(&ds.Spec.Template.Spec)
	s := ds.Status
	return []any{
		ds.Name,
		int64(s.DesiredNumberScheduled),
		int64(s.CurrentNumberScheduled),
		int64(s.NumberReady),
		int64(s.UpdatedNumberScheduled),
		int64(s.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
		age(ds.CreationTimestamp),
		names, images,
		metav1.FormatLabelSelector(ds.Spec.Selector),
	}
}

func statefulSetColumns() []metav1.TableColumnDefinition {
	cols := []metav1.TableColumnDefinition{
		coreNameColumn(),
		{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
		coreAgeColumn(),
	}
	return append(cols, printTemplateColumns()...)
}

// statefulSetRow: NAME, READY (ready/desired), AGE, CONTAINERS, IMAGES.
func statefulSetRow(sts *appsv1.StatefulSet) []any {
	names, images := printTemplateCells(&sts.Spec.Template.Spec)
	return []any{
		sts.Name,
		fmt.Sprintf("%d/%d", sts.Status.ReadyReplicas, printDesiredReplicas(sts.Spec.Replicas)),
		age(sts.CreationTimestamp),
		names, images,
	}
}
