//! Unit tests of `tx`: signing matches alloy's signer, and transaction shapes.

use super::*;

#[test]
fn libsecp256k1_signs_exactly_as_alloys_signer() {
    use alloy::network::TxSignerSync;
    for i in 1..=20u64 {
        let mut k = [0u8; 32];
        k[24..].copy_from_slice(&(0xabcd_0000 + i).to_be_bytes());
        let signer = PrivateKeySigner::from_bytes(&B256::from(k)).unwrap();
        let fees = Fees {
            max_fee_per_gas: 2_000_000_000 + u128::from(i),
            max_priority_fee_per_gas: 1_000_000_000,
            legacy: i % 2 == 0,
        };
        let call = Call {
            access_list: None,
            blob: None,
            to: Some(Address::repeat_byte(i as u8)),
            value: U256::from(i),
            input: Bytes::from(vec![i as u8; i as usize]),
            gas_limit: 21_000 + i,
        };
        let (hash, raw) = sign(&signer, 31_337, i, fees, &call).unwrap();
        let mut tx = TxEip1559 {
            chain_id: 31_337,
            nonce: i,
            gas_limit: call.gas_limit,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            to: TxKind::Call(call.to.unwrap()),
            value: call.value,
            access_list: Default::default(),
            input: call.input.clone(),
        };
        let expected: Bytes = if fees.legacy {
            let mut tx = TxLegacy {
                chain_id: Some(31_337),
                nonce: i,
                gas_price: fees.max_fee_per_gas,
                gas_limit: call.gas_limit,
                to: TxKind::Call(call.to.unwrap()),
                value: call.value,
                input: call.input.clone(),
            };
            let sig = signer.sign_transaction_sync(&mut tx).unwrap();
            TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
        } else {
            let sig = signer.sign_transaction_sync(&mut tx).unwrap();
            TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
        };
        assert_eq!(raw, expected, "key {i}");
        assert_eq!(hash, alloy::primitives::keccak256(&raw));
    }
}
