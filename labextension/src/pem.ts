/**
 * SHA-256 fingerprints of the certificates in a PEM bundle, in the server's
 * format (colon-separated upper-case hex), so a pasted or uploaded CA can be
 * compared with what the registry presents before anything is stored.
 */

const BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/** A certificate block whose text between BEGIN and END is not base64. */
export class PemError extends Error {
  /** The block's number in the text, from 1. */
  readonly block: number;

  constructor(block: number) {
    super(`certificate ${block} of the PEM text is not base64`);
    this.name = 'PemError';
    this.block = block;
  }
}

/** The DER bytes of each certificate block; empty when there is none. */
export function certificateBlocks(pem: string): ArrayBuffer[] {
  const blocks: ArrayBuffer[] = [];
  BLOCK.lastIndex = 0;
  for (let match = BLOCK.exec(pem); match; match = BLOCK.exec(pem)) {
    let binary: string;
    try {
      binary = atob(match[1].replace(/\s+/g, ''));
    } catch {
      throw new PemError(blocks.length + 1);
    }
    blocks.push(Uint8Array.from(binary, c => c.charCodeAt(0)).buffer);
  }
  return blocks;
}

/**
 * Fingerprints of each certificate, or null where the browser has no Web
 * Crypto (pages served over plain HTTP from another host).
 */
export async function fingerprints(pem: string): Promise<string[] | null> {
  if (!window.crypto?.subtle) {
    return null;
  }
  const result: string[] = [];
  for (const der of certificateBlocks(pem)) {
    const digest = new Uint8Array(
      await window.crypto.subtle.digest('SHA-256', der)
    );
    result.push(
      Array.from(digest, b => b.toString(16).padStart(2, '0'))
        .join(':')
        .toUpperCase()
    );
  }
  return result;
}
