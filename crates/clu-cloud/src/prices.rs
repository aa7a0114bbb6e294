//! The dated price table the savings detectors estimate with.
//!
//! Estimates must be reproducible, so the detectors never ask a pricing API: they multiply by
//! a table that says when its prices were taken. [`PriceTable::embedded`] carries public
//! on-demand list prices (USD) for a few regions as of [`EMBEDDED_AS_OF`]; an operator whose
//! prices differ (another region, a discount, a newer list) loads a table from JSON with
//! [`PriceTable::from_json`], and every estimate then names that table's date.
//!
//! The us-east-1 figures the detectors lean on most were cross-checked on 2026-12-03 against
//! public pricing guides (NAT gateway $0.045 an hour, $0.059 in ap-southeast-1; Application
//! Load Balancer $0.0225 an hour; gp3 $0.08 per GB-month and $0.04 per MiB/s-month above the
//! baseline), not against the AWS Price List API, which the build machines cannot reach; the
//! other regions' figures are as taken on [`EMBEDDED_AS_OF`].
//!
//! Only what the detectors price is here: EBS storage per GB-month by volume type, gp3's
//! included baseline and its extra IOPS and throughput, io1/io2 provisioned IOPS, load balancer
//! hours and NAT gateway hours. Usage-based charges (LCUs, processed bytes) are left out, so
//! an estimate is a floor, not a bill.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The date the embedded prices were taken from the public price lists.
pub const EMBEDDED_AS_OF: &str = "2025-06-01";

/// Hours in the month AWS bills by (365 × 24 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// A price table could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PriceError {
    /// The text is not a price table.
    #[error("invalid price table: {0}")]
    Invalid(#[from] serde_json::Error),
    /// The table has no region to fall back on.
    #[error("the price table's default region `{0}` has no prices")]
    MissingDefault(String),
    /// A price is negative or not a number.
    #[error("the price table's `{region}.{field}` is {value}, which is not a price")]
    NotAPrice {
        /// The region.
        region: String,
        /// The field.
        field: &'static str,
        /// The value found.
        value: f64,
    },
}

/// Monthly EBS storage prices per GB by volume type, in USD.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EbsGbMonth {
    /// General purpose SSD, gp2.
    pub gp2: f64,
    /// General purpose SSD, gp3.
    pub gp3: f64,
    /// Provisioned IOPS SSD, io1.
    pub io1: f64,
    /// Provisioned IOPS SSD, io2.
    pub io2: f64,
    /// Throughput optimized HDD, st1.
    pub st1: f64,
    /// Cold HDD, sc1.
    pub sc1: f64,
    /// Previous-generation magnetic, standard.
    pub standard: f64,
}

/// The prices of one region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPrices {
    /// EBS storage per GB-month.
    pub ebs_gb_month: EbsGbMonth,
    /// IOPS every gp3 volume includes.
    pub gp3_baseline_iops: u32,
    /// Throughput every gp3 volume includes, in MiB/s.
    pub gp3_baseline_throughput: u32,
    /// gp3 IOPS above the baseline, per IOPS-month.
    pub gp3_iops_month: f64,
    /// gp3 throughput above the baseline, per MiB/s-month.
    pub gp3_throughput_month: f64,
    /// io1 and io2 provisioned IOPS, per IOPS-month (io2's first tier).
    pub io_iops_month: f64,
    /// An Application Load Balancer, per hour.
    pub alb_hour: f64,
    /// A Network Load Balancer, per hour.
    pub nlb_hour: f64,
    /// A Gateway Load Balancer, per hour.
    pub gwlb_hour: f64,
    /// A NAT gateway, per hour.
    pub nat_gateway_hour: f64,
}

impl RegionPrices {
    fn check(&self, region: &str) -> Result<(), PriceError> {
        let e = &self.ebs_gb_month;
        let fields: [(&'static str, f64); 14] = [
            ("ebs_gb_month.gp2", e.gp2),
            ("ebs_gb_month.gp3", e.gp3),
            ("ebs_gb_month.io1", e.io1),
            ("ebs_gb_month.io2", e.io2),
            ("ebs_gb_month.st1", e.st1),
            ("ebs_gb_month.sc1", e.sc1),
            ("ebs_gb_month.standard", e.standard),
            ("gp3_iops_month", self.gp3_iops_month),
            ("gp3_throughput_month", self.gp3_throughput_month),
            ("io_iops_month", self.io_iops_month),
            ("alb_hour", self.alb_hour),
            ("nlb_hour", self.nlb_hour),
            ("gwlb_hour", self.gwlb_hour),
            ("nat_gateway_hour", self.nat_gateway_hour),
        ];
        for (field, value) in fields {
            if !value.is_finite() || value < 0.0 {
                return Err(PriceError::NotAPrice { region: region.to_owned(), field, value });
            }
        }
        Ok(())
    }

    /// The storage price per GB-month of a volume type; `None` for a type the table lacks.
    pub fn ebs_per_gb(&self, volume_type: &str) -> Option<f64> {
        let e = &self.ebs_gb_month;
        Some(match volume_type {
            "gp2" => e.gp2,
            "gp3" => e.gp3,
            "io1" => e.io1,
            "io2" => e.io2,
            "st1" => e.st1,
            "sc1" => e.sc1,
            "standard" => e.standard,
            _ => return None,
        })
    }

    /// The monthly cost of one EBS volume: storage, plus provisioned IOPS (io1/io2) or IOPS
    /// and throughput above gp3's baseline. `None` for a type the table lacks.
    pub fn ebs_volume_month(
        &self,
        volume_type: &str,
        size_gib: i64,
        iops: Option<i64>,
        throughput: Option<i64>,
    ) -> Option<f64> {
        let storage = self.ebs_per_gb(volume_type)? * size_gib.max(0) as f64;
        let extra = match volume_type {
            "gp3" => {
                let iops = (iops.unwrap_or(0) - i64::from(self.gp3_baseline_iops)).max(0);
                let throughput =
                    (throughput.unwrap_or(0) - i64::from(self.gp3_baseline_throughput)).max(0);
                iops as f64 * self.gp3_iops_month + throughput as f64 * self.gp3_throughput_month
            }
            "io1" | "io2" => iops.unwrap_or(0).max(0) as f64 * self.io_iops_month,
            _ => 0.0,
        };
        Some(round_cents(storage + extra))
    }

    /// The hourly price of a load balancer type (`application`, `network`, `gateway`).
    pub fn load_balancer_hour(&self, kind: &str) -> Option<f64> {
        match kind {
            "application" => Some(self.alb_hour),
            "network" => Some(self.nlb_hour),
            "gateway" => Some(self.gwlb_hour),
            _ => None,
        }
    }
}

/// Rounds to whole cents, so estimates compare and print stably.
pub fn round_cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

/// Prices by region, with the date they were taken.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// When the prices were taken, as `YYYY-MM-DD`.
    pub as_of: String,
    /// Where they come from, for the reader of an estimate.
    pub source: String,
    /// The currency, `USD`.
    pub currency: String,
    /// The region whose prices apply where a region has none of its own.
    pub default_region: String,
    /// Prices by region code.
    pub regions: BTreeMap<String, RegionPrices>,
}

/// The prices one estimate used.
#[derive(Clone, Copy, Debug)]
pub struct Prices<'a> {
    /// The prices.
    pub region: &'a RegionPrices,
    /// The region they are of; differs from the one asked for when the table fell back.
    pub priced_as: &'a str,
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call per region reads like a row of the price list"
)]
fn region(
    gp2: f64,
    gp3: f64,
    io: (f64, f64, f64),
    hdd: (f64, f64),
    standard: f64,
    gp3_extra: (f64, f64),
    load_balancers: (f64, f64, f64),
    nat_gateway_hour: f64,
) -> RegionPrices {
    RegionPrices {
        ebs_gb_month: EbsGbMonth {
            gp2,
            gp3,
            io1: io.0,
            io2: io.1,
            st1: hdd.0,
            sc1: hdd.1,
            standard,
        },
        gp3_baseline_iops: 3000,
        gp3_baseline_throughput: 125,
        gp3_iops_month: gp3_extra.0,
        gp3_throughput_month: gp3_extra.1,
        io_iops_month: io.2,
        alb_hour: load_balancers.0,
        nlb_hour: load_balancers.1,
        gwlb_hour: load_balancers.2,
        nat_gateway_hour,
    }
}

impl PriceTable {
    /// The table built into Clu: public on-demand list prices as of [`EMBEDDED_AS_OF`].
    pub fn embedded() -> Self {
        let virginia = region(
            0.10,
            0.08,
            (0.125, 0.125, 0.065),
            (0.045, 0.015),
            0.05,
            (0.005, 0.04),
            (0.0225, 0.0225, 0.0125),
            0.045,
        );
        let regions = BTreeMap::from([
            ("us-east-1".to_owned(), virginia.clone()),
            ("us-east-2".to_owned(), virginia.clone()),
            ("us-west-2".to_owned(), virginia),
            (
                "eu-west-1".to_owned(),
                region(
                    0.11,
                    0.088,
                    (0.138, 0.138, 0.072),
                    (0.05, 0.0168),
                    0.055,
                    (0.0055, 0.044),
                    (0.0252, 0.0252, 0.014),
                    0.048,
                ),
            ),
            (
                "eu-central-1".to_owned(),
                region(
                    0.119,
                    0.0952,
                    (0.149, 0.149, 0.078),
                    (0.054, 0.018),
                    0.059,
                    (0.006, 0.0476),
                    (0.027, 0.027, 0.015),
                    0.052,
                ),
            ),
            (
                "ap-southeast-1".to_owned(),
                region(
                    0.12,
                    0.096,
                    (0.138, 0.138, 0.072),
                    (0.054, 0.018),
                    0.08,
                    (0.006, 0.048),
                    (0.0252, 0.0252, 0.014),
                    0.059,
                ),
            ),
        ]);
        Self {
            as_of: EMBEDDED_AS_OF.to_owned(),
            source: "AWS public on-demand list prices (EBS, Elastic Load Balancing, VPC NAT \
                     gateway pricing pages)"
                .to_owned(),
            currency: "USD".to_owned(),
            default_region: "us-east-1".to_owned(),
            regions,
        }
    }

    /// A table from JSON of the same shape as [`PriceTable`] serializes to.
    pub fn from_json(text: &str) -> Result<Self, PriceError> {
        let table: PriceTable = serde_json::from_str(text)?;
        if !table.regions.contains_key(&table.default_region) {
            return Err(PriceError::MissingDefault(table.default_region));
        }
        for (name, prices) in &table.regions {
            prices.check(name)?;
        }
        Ok(table)
    }

    /// The prices of `region`, or of the default region when the table has none for it.
    pub fn for_region<'a>(&'a self, region: &str) -> Prices<'a> {
        match self.regions.get_key_value(region) {
            Some((name, prices)) => Prices { region: prices, priced_as: name },
            None => {
                let (name, prices) = self
                    .regions
                    .get_key_value(&self.default_region)
                    .or_else(|| self.regions.iter().next())
                    .unwrap_or_else(|| unreachable!("a table is checked to have its default"));
                Prices { region: prices, priced_as: name }
            }
        }
    }
}

impl Default for PriceTable {
    fn default() -> Self {
        Self::embedded()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn virginia() -> RegionPrices {
        PriceTable::embedded().regions["us-east-1"].clone()
    }

    #[test]
    fn storage_is_size_times_the_type_price() {
        let prices = virginia();
        assert_eq!(prices.ebs_volume_month("gp2", 100, Some(300), None), Some(10.0));
        assert_eq!(prices.ebs_volume_month("st1", 500, None, None), Some(22.5));
        assert_eq!(prices.ebs_volume_month("sc1", 1000, None, None), Some(15.0));
        assert_eq!(prices.ebs_volume_month("nvme", 10, None, None), None);
    }

    #[test]
    fn gp3_pays_only_above_its_baseline() {
        let prices = virginia();
        // 100 GiB at 0.08, baseline IOPS and throughput included.
        assert_eq!(prices.ebs_volume_month("gp3", 100, Some(3000), Some(125)), Some(8.0));
        // 2000 IOPS over at 0.005 and 125 MiB/s over at 0.04: 8 + 10 + 5.
        assert_eq!(prices.ebs_volume_month("gp3", 100, Some(5000), Some(250)), Some(23.0));
    }

    #[test]
    fn io1_pays_for_every_provisioned_iops() {
        // 100 GiB at 0.125 plus 1000 IOPS at 0.065.
        assert_eq!(virginia().ebs_volume_month("io1", 100, Some(1000), None), Some(77.5));
    }

    #[test]
    fn load_balancers_are_priced_by_type() {
        let prices = virginia();
        assert_eq!(prices.load_balancer_hour("application"), Some(0.0225));
        assert_eq!(prices.load_balancer_hour("gateway"), Some(0.0125));
        assert_eq!(prices.load_balancer_hour("classic"), None);
        assert_eq!(round_cents(0.0225 * HOURS_PER_MONTH), 16.43);
    }

    #[test]
    fn an_unknown_region_falls_back_to_the_default() {
        let table = PriceTable::embedded();
        assert_eq!(table.for_region("eu-west-1").priced_as, "eu-west-1");
        assert_eq!(table.for_region("eu-west-1").region.ebs_gb_month.gp2, 0.11);
        assert_eq!(table.for_region("sa-east-1").priced_as, "us-east-1");
    }

    #[test]
    fn a_table_round_trips_through_json_and_overrides_prices() {
        let mut table = PriceTable::embedded();
        table.as_of = "2030-01-01".to_owned();
        if let Some(prices) = table.regions.get_mut("us-east-1") {
            prices.ebs_gb_month.gp2 = 0.2;
        }
        let text = serde_json::to_string(&table).unwrap();
        let loaded = PriceTable::from_json(&text).unwrap();
        assert_eq!(loaded, table);
        assert_eq!(
            loaded.for_region("us-east-1").region.ebs_volume_month("gp2", 10, None, None),
            Some(2.0)
        );
    }

    #[test]
    fn a_broken_table_is_refused_naming_what_is_wrong() {
        let mut table = PriceTable::embedded();
        table.default_region = "mars-1".to_owned();
        let error = PriceTable::from_json(&serde_json::to_string(&table).unwrap()).unwrap_err();
        assert_eq!(error.to_string(), "the price table's default region `mars-1` has no prices");

        let mut table = PriceTable::embedded();
        if let Some(prices) = table.regions.get_mut("eu-west-1") {
            prices.alb_hour = -1.0;
        }
        let error = PriceTable::from_json(&serde_json::to_string(&table).unwrap()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the price table's `eu-west-1.alb_hour` is -1, which is not a price"
        );

        let error = PriceTable::from_json("{\"as_of\": 1}").unwrap_err();
        assert!(error.to_string().starts_with("invalid price table: "), "{error}");
    }
}
