// Builds the real flanneld from its own module. `go install github.com/flannel-io/flannel@v` would
// do, but one of its backends (tencent-vpc) needs an SDK the module proxy does not serve: this
// wrapper replaces that one module with a stub and the SDK's common module with a served version.
module cnilab.local/flanneld

go 1.25.9

require github.com/flannel-io/flannel v0.28.9

replace github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc => ./tencentvpc-stub

replace github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common => github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common v1.3.213
