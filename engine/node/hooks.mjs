// Module hooks for the step worker: TypeScript transpiled on load with esbuild, TypeScript-style
// extensionless relative imports resolved, type-only `motia` imports erased, and the version
// of a step's load carried to the project's own modules it imports, so a reload reads them anew.
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'

const TS_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx']
const TRY_SUFFIXES = ['.ts', '.mts', '.tsx', '.js', '.mjs', '/index.ts', '/index.js']
const PROJECT_IMPORT = 'motia-project:'

let esbuildPath = null
let esbuild = null
let projectRoot = ''

export async function initialize(data) {
  esbuildPath = data.esbuild
  projectRoot = data.projectRoot
}

function isTypeScript(url) {
  const path = url.split('?')[0]
  return TS_EXTENSIONS.some((ext) => path.endsWith(ext))
}

function ownModule(url) {
  if (!url.startsWith('file:')) return false
  const path = fileURLToPath(url.split('?')[0])
  return path.startsWith(projectRoot) && !path.includes('/node_modules/')
}

function versionOf(url) {
  const query = url.split('?')[1]
  return query ? new URLSearchParams(query).get('motia-v') : null
}

function withVersion(url, version) {
  if (!version || !ownModule(url)) return url
  const base = url.split('?')[0]
  return `${base}?motia-v=${version}`
}

export async function resolve(specifier, context, nextResolve) {
  if (specifier.startsWith(PROJECT_IMPORT)) {
    // A package as the project sees it (the worker's own imports resolve from its folder).
    const [name, from] = specifier.slice(PROJECT_IMPORT.length).split('|')
    return nextResolve(name, { ...context, parentURL: from })
  }
  const version = context.parentURL ? versionOf(context.parentURL) : null
  let resolved
  try {
    resolved = await nextResolve(specifier, context)
  } catch (error) {
    const relative = specifier.startsWith('.') || specifier.startsWith('/')
    if (!relative || error?.code !== 'ERR_MODULE_NOT_FOUND' || !context.parentURL) throw error
    resolved = await resolveTypeScriptStyle(specifier, context, nextResolve, error)
  }
  return { ...resolved, url: withVersion(resolved.url, version) }
}

async function resolveTypeScriptStyle(specifier, context, nextResolve, original) {
  const stem = specifier.endsWith('.js') ? specifier.slice(0, -3) : specifier
  for (const suffix of TRY_SUFFIXES) {
    try {
      return await nextResolve(stem + suffix, context)
    } catch {
      // try the next spelling
    }
  }
  throw original
}

async function transpiler() {
  if (esbuild) return esbuild
  if (!esbuildPath) {
    throw new Error(
      'TypeScript steps need esbuild: it was not found in node_modules or .motia/node_modules',
    )
  }
  const require = createRequire(pathToFileURL(esbuildPath))
  esbuild = require(esbuildPath)
  return esbuild
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !isTypeScript(url)) return nextLoad(url, context)
  const path = fileURLToPath(url.split('?')[0])
  const source = await readFile(path, 'utf8')
  const { transform } = await transpiler()
  let result
  try {
    result = await transform(source, {
      loader: path.endsWith('.tsx') ? 'tsx' : 'ts',
      format: 'esm',
      sourcefile: path,
      sourcemap: 'inline',
      target: 'node18',
    })
  } catch (error) {
    // The worker reads the place back from the message: errors cross from the hooks thread
    // as their message and stack only.
    const first = error?.errors?.[0]
    const where = first?.location
    const file = where?.file || path
    const failure = new SyntaxError(`${file}:${where?.line ?? 1}:${where?.column ?? 0}: ${first ? first.text : String(error)}`)
    throw failure
  }
  return { format: 'module', source: result.code, shortCircuit: true }
}
