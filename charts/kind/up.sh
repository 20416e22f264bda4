#!/usr/bin/env bash
# Create a kind cluster, install KServe's prerequisites and KServe, load the images, install the chart.
# Needs docker, kind, kubectl and helm on a machine with internet access (it cannot run where there is no
# container engine). Usage: charts/kind/up.sh [release-version]
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION="${1:-20261124.074533}"
KSERVE=v0.16.0
CERT_MANAGER=v1.17.2
INGRESS_NGINX=controller-v1.12.1

kind create cluster --config charts/kind/cluster.yaml
kubectl apply -f "https://github.com/cert-manager/cert-manager/releases/download/${CERT_MANAGER}/cert-manager.yaml"
kubectl wait --for=condition=Available deployment --all -n cert-manager --timeout=300s
kubectl apply -f "https://raw.githubusercontent.com/kubernetes/ingress-nginx/${INGRESS_NGINX}/deploy/static/provider/kind/deploy.yaml"
kubectl wait --for=condition=Ready pod -l app.kubernetes.io/component=controller -n ingress-nginx --timeout=300s
# KServe in RawDeployment mode (no Knative/Istio); for canary rollouts install its Serverless quick start instead.
helm install kserve-crd oci://ghcr.io/kserve/charts/kserve-crd --version "${KSERVE}"
helm install kserve oci://ghcr.io/kserve/charts/kserve --version "${KSERVE}" \
  --set kserve.controller.deploymentMode=RawDeployment

docker build -f charts/images/serving.Dockerfile -t ghcr.io/teller-bank/teller-serving:0.1.0 .
kind load docker-image ghcr.io/teller-bank/teller-serving:0.1.0 --name teller

# A release (bundle + KB built by `make up` or the pipelines) on a PVC the storage initializer reads.
kubectl create namespace teller --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -n teller -f - <<PVC
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: teller-releases}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 2Gi}}}
PVC
kubectl run -n teller releases-loader --image=busybox:1.37 --restart=Never \
  --overrides='{"spec":{"volumes":[{"name":"r","persistentVolumeClaim":{"claimName":"teller-releases"}}],"containers":[{"name":"l","image":"busybox:1.37","command":["sleep","3600"],"volumeMounts":[{"name":"r","mountPath":"/releases"}]}]}}'
kubectl wait -n teller --for=condition=Ready pod/releases-loader --timeout=120s
kubectl exec -n teller releases-loader -- mkdir -p "/releases/${VERSION}"
kubectl cp "var/bundles/${VERSION}" "teller/releases-loader:/releases/${VERSION}/bundle"
kubectl cp var/kb "teller/releases-loader:/releases/${VERSION}/kb"
kubectl delete pod -n teller releases-loader

helm upgrade --install teller charts/teller -n teller -f charts/teller/values-kind.yaml --set model.version="${VERSION}"
kubectl wait -n teller --for=condition=Ready isvc/teller --timeout=600s
echo "Teller: http://teller.localtest.me/  (agent token: kubectl get secret teller-agent-token -n teller -o jsonpath='{.data.token}' | base64 -d)"
