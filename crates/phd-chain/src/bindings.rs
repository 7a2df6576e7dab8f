//! Contract bindings generated from the committed forge artifacts in `crates/phd-chain/artifacts/`
//! (see `scripts/sync-bindings.sh`), so they cannot drift from the Solidity sources.
#![allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::all
)]

/// PHD coin (ERC-20 + EIP-2612 permit + AccessControl).
pub mod coin {
    alloy::sol!(
        #[sol(rpc, all_derives)]
        PHDCoin,
        "artifacts/PHDCoin.json"
    );

    alloy::sol! {
        /// EIP-2612 permit message.
        #[derive(Debug)]
        struct Permit {
            address owner;
            address spender;
            uint256 value;
            uint256 nonce;
            uint256 deadline;
        }
    }
}

/// Keeper / validator PKI and approved manufacturers.
pub mod keeper_registry {
    alloy::sol!(
        #[sol(rpc, all_derives)]
        KeeperRegistry,
        "artifacts/KeeperRegistry.json"
    );
}

/// Dataset listings.
pub mod data_registry {
    alloy::sol!(
        #[sol(rpc, all_derives)]
        DataRegistry,
        "artifacts/DataRegistry.json"
    );
}

/// Escrow.
pub mod marketplace {
    alloy::sol!(
        #[sol(rpc, all_derives)]
        Marketplace,
        "artifacts/Marketplace.json"
    );
}

/// Continuous datasets (series) and their subscriptions.
pub mod series_market {
    alloy::sol!(
        #[sol(rpc, all_derives)]
        SeriesMarket,
        "artifacts/SeriesMarket.json"
    );
}

/// Validators' certificates of series.
pub mod series_certification {
    alloy::sol!(
        #[sol(rpc, all_derives)]
        SeriesCertification,
        "artifacts/SeriesCertification.json"
    );
}

pub use coin::PHDCoin;
pub use data_registry::DataRegistry;
pub use keeper_registry::KeeperRegistry;
pub use marketplace::Marketplace;
pub use series_certification::SeriesCertification;
pub use series_market::SeriesMarket;

/// The raw artifact JSON of each contract, as committed.
pub mod artifacts {
    /// `PHDCoin.json`.
    pub const PHD_COIN: &str = include_str!("../artifacts/PHDCoin.json");
    /// `KeeperRegistry.json`.
    pub const KEEPER_REGISTRY: &str = include_str!("../artifacts/KeeperRegistry.json");
    /// `DataRegistry.json`.
    pub const DATA_REGISTRY: &str = include_str!("../artifacts/DataRegistry.json");
    /// `Marketplace.json`.
    pub const MARKETPLACE: &str = include_str!("../artifacts/Marketplace.json");
    /// `SeriesMarket.json`.
    pub const SERIES_MARKET: &str = include_str!("../artifacts/SeriesMarket.json");
    /// `SeriesCertification.json`.
    pub const SERIES_CERTIFICATION: &str = include_str!("../artifacts/SeriesCertification.json");
}
