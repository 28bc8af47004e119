import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { imageExists, imageId } from '../docker.ts'
import { exec } from '../exec.ts'
import type { EmitEvent } from '../output.ts'
import { repoRoot } from '../project.ts'
import { ensureBinaries, ensureCoredns, ensureLocalPathProvisioner, VERSIONS, type Binaries } from './binaries.ts'
import { buildImage, ensureBaseImage, ensurePauseImage, PAUSE_IMAGE, REGISTRY } from './images.ts'
import { KIND_VERSION } from '../cluster/kind/config.ts'
import { goStringConstant } from './go-constants.ts'
import { goModuleDir } from './go-module.ts'

/**
 * A kind node image made without a registry, for machines where `kindest/node` cannot be pulled.
 * It is what `kind build node-image` makes, assembled from parts built here: kind's base image
 * (kind's own files on Debian's systemd, containerd, runc and CNI plugins), kubeadm, kubelet and
 * kubectl from the lab's Kubernetes build, and every image kubeadm and kind start, imported into
 * the node's containerd under the names they expect, so nothing is ever pulled.
 */

const imagesDir = join(repoRoot, 'images')

/** The CNI the node image installs as kind's default (kind applies /kind/manifests/default-cni.yaml). */
export interface DefaultCni {
  /** Local images the manifest runs, imported under the same names. */
  images: string[]
  manifest: string
}

const shortHash = (...parts: (string | Uint8Array)[]) => {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(typeof part === 'string' ? `${part}\0` : part)
  return hash.digest('hex').slice(0, 12)
}

/** kind's base image: its `files/` folder from the kind module, on the lab's Debian image. */
async function ensureKindBaseImage(kindDir: string, emit: EmitEvent): Promise<string> {
  const base = await ensureBaseImage(emit)
  const dockerfile = join(imagesDir, 'kind-base', 'Dockerfile')
  const wrapper = join(imagesDir, 'kind-base', 'entrypoint-wrapper.sh')
  const tag = `${REGISTRY}/kind-base:${KIND_VERSION}-${shortHash(await imageId(base), await readFile(dockerfile), await readFile(wrapper))}`
  if (await imageExists(tag)) return tag
  emit({
    kind: 'progress',
    message: `building ${tag}: kind's base files on Debian's systemd and containerd (about 2 min)`,
  })
  await buildImage(
    tag,
    { Dockerfile: dockerfile, 'entrypoint-wrapper.sh': wrapper, files: join(kindDir, 'images', 'base', 'files') },
    { buildArgs: { BASE_IMAGE: base } },
  )
  return tag
}

/** One image holding every component that names its program in `command` (see images/kube-components). */
async function ensureComponentsImage(binaries: Record<string, string>, emit: EmitEvent): Promise<string> {
  const base = await ensureBaseImage(emit)
  const dir = join(imagesDir, 'kube-components')
  const contents = await Promise.all(Object.values(binaries).map((path) => readFile(path)))
  const tag = `${REGISTRY}/kube-components:${VERSIONS.kubernetes}-${shortHash(await imageId(base), await readFile(join(dir, 'Dockerfile')), await readFile(join(dir, 'iptables-backend.sh')), ...Object.keys(binaries), ...contents)}`
  if (await imageExists(tag)) return tag
  emit({ kind: 'progress', message: `building ${tag}: ${Object.keys(binaries).join(', ')}` })
  const files: Record<string, string> = {
    Dockerfile: join(dir, 'Dockerfile'),
    'iptables-backend.sh': join(dir, 'iptables-backend.sh'),
  }
  for (const [name, path] of Object.entries(binaries)) files[`bin/${name}`] = path
  await buildImage(tag, files, { buildArgs: { BASE_IMAGE: base } })
  return tag
}

/** CoreDNS as kubeadm's Deployment runs it: the image's entry point is the program; root, as kubeadm grants it NET_BIND_SERVICE for port 53. */
async function ensureKindCorednsImage(emit: EmitEvent): Promise<string> {
  const binary = await ensureCoredns(emit)
  const tag = `${REGISTRY}/kind-coredns:${VERSIONS.coredns}-${shortHash(await readFile(binary))}`
  if (await imageExists(tag)) return tag
  await buildImage(
    tag,
    { coredns: binary },
    { dockerfile: 'FROM scratch\nCOPY coredns /coredns\nENTRYPOINT ["/coredns"]\n' },
  )
  return tag
}

/** The images kubeadm runs, as `kubeadm config images list` names them for the pinned version. */
async function kubeadmImages(kubeadm: string): Promise<string[]> {
  const list = await exec(kubeadm, ['config', 'images', 'list', '--kubernetes-version', VERSIONS.kubernetes])
  return list
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
}

/** What kind itself runs: the sandbox image its containerd config names, and its storage provisioner's images. */
async function kindImages(
  kindDir: string,
): Promise<{ sandbox: string; storageManifest: string; provisioner: string; helper: string }> {
  const containerd = await readFile(
    join(kindDir, 'images', 'base', 'files', 'etc', 'containerd', 'config.toml'),
    'utf8',
  )
  const sandbox = /sandbox_image\s*=\s*"([^"]+)"/.exec(containerd)?.[1]
  if (!sandbox) throw new Error(`no sandbox_image in kind ${KIND_VERSION}'s containerd config`)
  const nodeimage = join(kindDir, 'pkg', 'build', 'nodeimage')
  const sources = await Promise.all(
    ['const_storage.go', 'const_cni.go'].map((file) => readFile(join(nodeimage, file), 'utf8')),
  )
  return {
    sandbox,
    storageManifest: goStringConstant(sources, 'defaultStorageManifest'),
    provisioner: goStringConstant(sources, 'storageProvisionerImage'),
    helper: goStringConstant(sources, 'storageHelperImage'),
  }
}

/** Which local image serves each name the node's containerd must hold. */
export function nodeImageNames(
  expected: { kubeadm: string[]; sandbox: string; provisioner: string; helper: string },
  local: { components: string; coredns: string; pause: string },
): Record<string, string> {
  const names: Record<string, string> = {}
  for (const name of [...expected.kubeadm, expected.sandbox]) {
    const repository = name
      .replace(/:[^:/]+$/, '')
      .split('/')
      .at(-1)!
    if (repository === 'coredns') names[name] = local.coredns
    else if (repository === 'pause') names[name] = local.pause
    else if (['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'etcd'].includes(repository))
      names[name] = local.components
    else throw new Error(`kubeadm expects an image the lab does not build: ${name}`)
  }
  names[expected.provisioner] = local.components
  names[expected.helper] = local.components
  return names
}

/** `docker run` a container of the base image, fill it as `kind build node-image` would, and commit it. */
async function assemble(
  tag: string,
  base: string,
  binaries: Binaries,
  names: Record<string, string>,
  manifests: Record<string, string>,
  emit: EmitEvent,
): Promise<void> {
  const container = `serving-lab-build-${process.pid}`
  await exec('docker', ['rm', '-f', container]).catch(() => '')
  await exec('docker', [
    'run',
    '-d',
    '--name',
    container,
    '--entrypoint',
    'sleep',
    '--security-opt',
    'seccomp=unconfined',
    base,
    'infinity',
  ])
  try {
    for (const name of ['kubeadm', 'kubelet', 'kubectl'] as const)
      await exec('docker', ['cp', binaries[name], `${container}:/usr/bin/${name}`])
    const dir = await mkdtemp(join(tmpdir(), 'serving-lab-manifests-'))
    try {
      for (const [name, text] of Object.entries(manifests)) await writeFile(join(dir, name), text)
      await exec('docker', ['exec', container, 'mkdir', '-p', '/kind/manifests'])
      for (const name of Object.keys(manifests))
        await exec('docker', ['cp', join(dir, name), `${container}:/kind/manifests/${name}`])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    await exec('docker', [
      'exec',
      container,
      'sh',
      '-c',
      `chown root:root /usr/bin/kube* && printf %s ${VERSIONS.kubernetes} > /kind/version`,
    ])

    emit({ kind: 'progress', message: `importing ${Object.keys(names).length} images into the node's containerd` })
    await exec('docker', ['exec', '-d', container, 'containerd'])
    await exec('docker', [
      'exec',
      container,
      'sh',
      '-c',
      'for i in $(seq 100); do ctr version >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1',
    ])
    const locals = [...new Set(Object.values(names))]
    const save = `docker save ${locals.join(' ')} | docker exec -i ${container} ctr -n k8s.io images import --no-unpack -`
    await exec('bash', ['-c', `set -o pipefail; ${save}`])
    for (const [name, local] of Object.entries(names)) {
      await exec('docker', ['exec', container, 'ctr', '-n', 'k8s.io', 'images', 'tag', '--force', local, name])
    }
    // Only the names pods use stay: the lab's local names would show up in `crictl images`.
    for (const local of locals.filter((name) => !(name in names)))
      await exec('docker', ['exec', container, 'ctr', '-n', 'k8s.io', 'images', 'rm', local])
    await exec('docker', [
      'exec',
      container,
      'sh',
      '-c',
      'pkill containerd; while pgrep containerd >/dev/null; do sleep 0.1; done',
    ])
    await exec('docker', [
      'commit',
      '--change',
      'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
      '--change',
      'CMD []',
      container,
      tag,
    ])
  } finally {
    await exec('docker', ['rm', '-f', container]).catch(() => '')
  }
}

/**
 * The node image, tagged by the content of everything it is made from, so it is built once and
 * again only when an input changes (about 1.5 min with its parts built).
 */
export async function ensureKindNodeImage(cni: DefaultCni, emit: EmitEvent): Promise<string> {
  const binaries = await ensureBinaries(emit)
  const kindDir = await goModuleDir('sigs.k8s.io/kind', KIND_VERSION)
  const base = await ensureKindBaseImage(kindDir, emit)
  const provisioner = await ensureLocalPathProvisioner(emit)
  const components = await ensureComponentsImage(
    {
      'kube-apiserver': binaries['kube-apiserver'],
      'kube-controller-manager': binaries['kube-controller-manager'],
      'kube-scheduler': binaries['kube-scheduler'],
      'kube-proxy': binaries['kube-proxy'],
      etcd: binaries.etcd,
      'local-path-provisioner': provisioner,
    },
    emit,
  )
  const coredns = await ensureKindCorednsImage(emit)
  await ensurePauseImage(emit)
  const kind = await kindImages(kindDir)
  const names = nodeImageNames(
    { kubeadm: await kubeadmImages(binaries.kubeadm), ...kind },
    { components, coredns, pause: PAUSE_IMAGE },
  )
  for (const image of cni.images) names[image] = image
  const manifests = { 'default-cni.yaml': cni.manifest, 'default-storage.yaml': kind.storageManifest }

  const inputs = await Promise.all([base, components, coredns, PAUSE_IMAGE, ...cni.images].map(imageId))
  const kubeBinaries = await Promise.all(
    (['kubeadm', 'kubelet', 'kubectl'] as const).map((name) => readFile(binaries[name])),
  )
  // This file is an input too: a change in how the image is assembled makes a new image.
  const assembly = await readFile(fileURLToPath(import.meta.url))
  const tag = `${REGISTRY}/kind-node:${VERSIONS.kubernetes}-${shortHash(...inputs, ...kubeBinaries, assembly, JSON.stringify(names), JSON.stringify(manifests))}`
  if (await imageExists(tag)) return tag
  emit({ kind: 'progress', message: `assembling the kind node image ${tag}` })
  await assemble(tag, base, binaries, names, manifests, emit)
  return tag
}
