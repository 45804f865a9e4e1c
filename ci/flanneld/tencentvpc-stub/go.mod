// A stand-in for github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc, which the Go module
// proxy here does not serve at any version. flanneld links its tencent-vpc backend against it; the
// lab never uses that backend, and if asked to, it fails with the error below.
module github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc

go 1.22
