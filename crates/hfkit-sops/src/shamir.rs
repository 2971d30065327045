//! Shamir secret sharing over GF(2^8) compatible with sops (hashicorp/vault's scheme: each
//! share is the y values followed by one byte holding the x coordinate).

fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    p
}

fn inv(a: u8) -> u8 {
    // a^254 = a^-1 in GF(256).
    let mut r = 1u8;
    let mut base = a;
    let mut e = 254u32;
    while e > 0 {
        if e & 1 != 0 {
            r = mul(r, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    r
}

/// Combines shares into the secret. Errors on malformed or duplicate shares.
pub fn combine(parts: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    if parts.len() < 2 {
        return Err("less than two parts cannot be used to reconstruct the secret".into());
    }
    let len = parts[0].len();
    if len < 2 || parts.iter().any(|p| p.len() != len) {
        return Err("all parts must be the same length and at least two bytes".into());
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err("duplicate part detected".into());
        }
    }
    let mut secret = vec![0u8; len - 1];
    for (idx, out) in secret.iter_mut().enumerate() {
        let mut acc = 0u8;
        for (i, p) in parts.iter().enumerate() {
            let mut basis = 1u8;
            for (j, &xj) in xs.iter().enumerate() {
                if i == j {
                    continue;
                }
                // basis *= (0 - xj) / (xi - xj) = xj / (xi ^ xj)
                basis = mul(basis, mul(xj, inv(xs[i] ^ xj)));
            }
            acc ^= mul(basis, p[idx]);
        }
        *out = acc;
    }
    Ok(secret)
}

/// Splits `secret` into `parts` shares, any `threshold` of which recombine it.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
    rand: &mut dyn FnMut(&mut [u8]),
) -> Result<Vec<Vec<u8>>, String> {
    if !(2..=255).contains(&parts) || threshold < 2 || threshold > parts || secret.is_empty() {
        return Err("invalid Shamir parameters (need 2 <= threshold <= parts <= 255)".into());
    }
    let mut out: Vec<Vec<u8>> = (0..parts)
        .map(|i| {
            let mut v = vec![0u8; secret.len() + 1];
            v[secret.len()] = (i + 1) as u8;
            v
        })
        .collect();
    let mut coeffs = vec![0u8; threshold - 1];
    for (idx, &s) in secret.iter().enumerate() {
        rand(&mut coeffs);
        for share in out.iter_mut() {
            let x = share[secret.len()];
            // Horner evaluation of s + c1 x + c2 x^2 ...
            let mut y = 0u8;
            for &c in coeffs.iter().rev() {
                y = mul(y, x) ^ c;
            }
            y = mul(y, x) ^ s;
            share[idx] = y;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_combine() {
        let secret: Vec<u8> = (0..32).collect();
        let mut n = 7u8;
        let mut rng = |b: &mut [u8]| {
            for x in b {
                n = n.wrapping_mul(31).wrapping_add(17);
                *x = n;
            }
        };
        let parts = split(&secret, 5, 3, &mut rng).unwrap();
        assert_eq!(combine(&parts[..3]).unwrap(), secret);
        assert_eq!(
            combine(&[parts[4].clone(), parts[1].clone(), parts[2].clone()]).unwrap(),
            secret
        );
        assert_ne!(combine(&parts[..2]).unwrap(), secret);
    }
}
